"""The agreement file: TOML text in (``tomllib``), commented TOML text out.

Reading: the text is parsed with the standard library's ``tomllib``; a syntax error becomes an
:class:`~leadsla.AgreementError` naming the line. The shape is then read by
:func:`leadsla._shell.document.agreement_from_data`, and every problem gets the line of the key
it is about, found by a light scan of the text for table headers and ``key =`` lines.

Writing: :func:`agreement_to_toml` writes the agreement's plain data as TOML, sections in the
order a reader wants them (the agreement, fields, calendars, teams, terms, the lifecycle when it
is not the default, rules, obligations, commitments, the goal), with a comment before each
section when ``comments`` is true. The standard library reads TOML but does not write it, and
the writers on PyPI drop comments, so this small writer covers the values the agreement uses:
text, numbers, booleans, dates, arrays and inline tables.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from leadsla._core.errors import AgreementError, Problem, UsageError
from leadsla._shell.document import SECTIONS, agreement_from_data, agreement_to_data

if TYPE_CHECKING:
    from leadsla._core.agreement import Agreement

__all__ = ["agreement_from_path", "agreement_from_text", "agreement_to_toml", "line_index"]

_BARE_KEY: Final = re.compile(r"^[A-Za-z0-9_-]+$")
_HEADER: Final = re.compile(r"^\[\[?\s*([^\[\]]+?)\s*\]\]?")
_ASSIGNMENT: Final = re.compile(
    r"""^((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*="""
)
_DECODE_LINE: Final = re.compile(r"line (\d+)")

_COMMENTS: Final[dict[str, str]] = {
    "agreement": (
        "The service level agreement between marketing and sales, as leadsla enforces it.\n"
        "Check it:            leadsla check FILE\n"
        "Print the one-pager: leadsla summary FILE --format html -o agreement.html\n"
        "tracking_period is week, month, quarter or year; rule_mode is all (every matching\n"
        "rule fires, by priority) or first (only the first)."
    ),
    "fields": (
        "The lead fields the conditions below may use, and their types (text, number, boolean,\n"
        'date, datetime, list, table, any, or { type = "choice", values = [...] }). A condition\n'
        "naming anything else, or using a field against its type, is reported: it catches typos."
    ),
    "calendars": (
        'When each team works. Each weekday lists opening intervals "HH:MM-HH:MM" (several\n'
        "make breaks; one closing at or before its opening runs past midnight; 24:00 is\n"
        "midnight). holidays takes ISO dates and RFC 5545 rules such as\n"
        '"FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=25" or "FREQ=YEARLY;BYEASTER=-2";\n'
        'overrides replaces one date\'s hours; country = "FI" adds national holidays.'
    ),
    "teams": (
        "Who is responsible. assignment is round-robin (the default; by a stable hash of\n"
        'the lead id), strict-round-robin, least-loaded, { fixed = "name" } or\n'
        '{ routing = [{ when = "condition", person = "name" }], fallback = ... }.'
    ),
    "terms": (
        "The agreed definitions. Conditions are expressions over lead fields:\n"
        "comparisons, in, and/or/not, functions such as has(x), lower(x), domain(email).\n"
        "A missing field makes a comparison false. Terms may use other terms by name."
    ),
    "lifecycle": "The lead lifecycle: states with their owning team, and transitions.",
    "rules": (
        "When something happens (on: lead_created, lead_updated, activity, assign,\n"
        "transitioned) to a lead in one of states and the condition holds: then. Actions:\n"
        '{ fire = "trigger", reason = "..." }, { assign = "name" }, { reassign = true },\n'
        '{ tag = "x" }, { untag = "x" }, { notify = "who", message = "..." }.'
    ),
    "obligations": (
        "Timed promises. starts/met/cancelled take states (entering), leaving, events,\n"
        "activity = { kinds, outcomes, by = anyone | owner | party } and a condition.\n"
        'within is business time on the calendar ("4 business hours", "1 business day")\n'
        'or calendar time ("30 days"). warnings: { before = "..." } or { fraction = 0.75 }.\n'
        'on_breach / on_met take actions, and { escalate = "manager" }.'
    ),
    "commitments": "Volume promises per tracking period.",
    "goal": (
        "The business goal the agreement serves; the conversions turn it into the volumes\n"
        "each stage must produce (see leadsla summary)."
    ),
}


# ------------------------------------------------------------------------------------------
# Reading.


def _key_parts(text: str) -> tuple[str, ...]:
    parts = re.findall(r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'""", text)
    return tuple(part.strip("\"'") for part in parts)


def line_index(text: str) -> dict[tuple[str | int, ...], int]:
    """Where each table header and ``key =`` line is: raw path -> 1-based line number."""
    index: dict[tuple[str | int, ...], int] = {}
    counters: dict[tuple[str, ...], int] = {}
    current: tuple[str | int, ...] = ()
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        header = _HEADER.match(stripped)
        if header is not None:
            parts = _key_parts(header.group(1))
            for length in range(1, len(parts) + 1):
                index.setdefault(parts[:length], number)  # [a.b] also places a and a.b
            if stripped.startswith("[["):
                position = counters.get(parts, -1) + 1
                counters[parts] = position
                current = (*parts, position)
            else:
                current = parts
            index.setdefault(current, number)
            continue
        assignment = _ASSIGNMENT.match(stripped)
        if assignment is not None:
            index.setdefault((*current, *_key_parts(assignment.group(1))), number)
    return index


def _locator(text: str) -> Any:
    index = line_index(text)

    def locate(path: tuple[str | int, ...]) -> int | None:
        for length in range(len(path), 0, -1):
            line = index.get(path[:length])
            if line is not None:
                return line
        return None

    return locate


def agreement_from_path(path: str | os.PathLike[str]) -> Agreement:
    """Read an agreement file; a text that is plainly TOML, not a path, is refused."""
    if isinstance(path, str) and ("\n" in path or "=" in path):
        raise UsageError(
            Problem(
                "path",
                path if len(path) <= 60 else path[:57] + "...",
                "looks like the text of an agreement, not the path of a file",
                "pass the text to Agreement.from_toml_text(text) instead",
            )
        )
    if not isinstance(path, (str, os.PathLike)):
        raise UsageError(
            Problem(
                "path",
                type(path).__name__,
                "is not a path",
                "pass a pathlib.Path or a str naming the agreement file",
            )
        )
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise AgreementError(
            Problem(
                "file",
                str(path),
                f"cannot be read ({error})",
                "give the path of an agreement file",
            )
        ) from None
    return agreement_from_text(text)


def agreement_from_text(text: str) -> Agreement:
    """Read an agreement from the text of its TOML file."""
    if not isinstance(text, str):
        raise UsageError(
            Problem(
                "text",
                type(text).__name__,
                "is not text",
                "pass the file's contents as str, or its path to Agreement.from_toml(path)",
            )
        )
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        found = _DECODE_LINE.search(str(error))
        line = int(found.group(1)) if found else None
        snippet = (
            text.splitlines()[line - 1].strip() if line and line <= len(text.splitlines()) else ""
        )
        raise AgreementError(
            Problem(
                "file", snippet, f"is not valid TOML ({error})", "fix the syntax on that line", line
            )
        ) from None
    return agreement_from_data(data, locate=_locator(text))


# ------------------------------------------------------------------------------------------
# Writing.


def _key(name: str) -> str:
    return name if _BARE_KEY.match(name) else _string(name)


def _string(text: str) -> str:
    escaped = []
    for character in text:
        code = ord(character)
        if character == "\\":
            escaped.append("\\\\")
        elif character == '"':
            escaped.append('\\"')
        elif character == "\n":
            escaped.append("\\n")
        elif character == "\t":
            escaped.append("\\t")
        elif code < 0x20 or code == 0x7F:
            escaped.append(f"\\u{code:04x}")
        else:
            escaped.append(character)
    return '"' + "".join(escaped) + '"'


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_key(str(k))} = {_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        items = [_value(item) for item in value]
        one_line = "[" + ", ".join(items) + "]"
        if len(one_line) <= 72:
            return one_line
        return "[\n" + "".join(f"    {item},\n" for item in items) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def _comment(text: str) -> str:
    return "".join(f"# {line}".rstrip() + "\n" for line in text.splitlines())


def _table(lines: list[str], header: str, data: Mapping[str, Any], *, inline_below: bool) -> None:
    """Write ``[header]`` with its plain keys, then its sub-tables as their own sections."""
    plain = {k: v for k, v in data.items() if inline_below or not isinstance(v, Mapping)}
    nested = {k: v for k, v in data.items() if not inline_below and isinstance(v, Mapping)}
    if plain or not nested:
        lines.append(f"[{header}]\n")
        lines.extend(f"{_key(str(k))} = {_value(v)}\n" for k, v in plain.items())
        lines.append("\n")
    for key, value in nested.items():
        _table(lines, f"{header}.{_key(str(key))}", value, inline_below=inline_below)


def agreement_to_toml(agreement: Agreement, *, comments: bool = True) -> str:
    """The agreement file, with explanatory comments unless ``comments`` is false."""
    data = agreement_to_data(agreement)
    lines: list[str] = []
    for section in SECTIONS:
        if section not in data:
            continue
        value = data[section]
        if comments:
            lines.append(_comment(_COMMENTS[section]))
        if section in ("rules", "obligations", "commitments"):
            for entry in value:
                lines.append(f"[[{section}]]\n")
                lines.extend(f"{_key(str(k))} = {_value(v)}\n" for k, v in entry.items())
                lines.append("\n")
        elif section == "lifecycle":
            lines.append("[lifecycle]\n")
            lines.append(f"initial = {_value(value['initial'])}\n\n")
            for name, state in value["states"].items():
                _table(lines, f"lifecycle.states.{_key(name)}", state, inline_below=True)
            for transition in value["transitions"]:
                lines.append("[[lifecycle.transitions]]\n")
                lines.extend(f"{_key(str(k))} = {_value(v)}\n" for k, v in transition.items())
                lines.append("\n")
        elif section in ("calendars", "teams", "terms"):
            for name, entry in value.items():
                _table(lines, f"{section}.{_key(name)}", entry, inline_below=section != "calendars")
        else:
            _table(lines, section, value, inline_below=True)
    return "".join(lines).rstrip("\n") + "\n"
