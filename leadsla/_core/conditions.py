"""Conditions over lead fields: safe expressions, compiled once, explained on demand.

Theory of operation
===================

A condition is a Python-syntax expression such as ``score >= 50 and country in ["FI", "SE"]``.
It is parsed with :mod:`ast` (never ``eval``), every node is checked against a whitelist, and the
tree is compiled once into nested closures, so evaluating it costs a few hundred nanoseconds.

Names are lead fields (``address.city`` reads a nested mapping), the reserved names ``now`` (the
event's time: conditions never read the clock), ``state``, ``owner`` and ``team``, or the names of
*terms* (named conditions such as ``mql``), which are bound when the conditions of an agreement are
compiled together.

Missing values are explicit: a field that is absent or null is *missing*; a comparison with a
missing value is false, arithmetic on it stays missing, and ``has(x)`` / ``missing(x)`` test for
it. A comparison between values that cannot be compared (a word and a number) is false too.
Neither ever raises.

Explanations come from a second, tracing interpreter over the same tree: each sub-condition's
result and the field values it read, e.g. ``mql: score >= 50 -> False (score = 42)``. It is slower,
so decisions keep what they need to explain themselves and run it only when asked.

Four walkers read the tree: the checker (when a condition is made), the compiler, the tracer and
the type walker. What they know of functions comes from one registry, :data:`FUNCTIONS`: each
entry gives a function's arity, argument and result types, implementation and how it is
explained, so adding a function is adding an entry. Names starting with ``__`` are refused, and
no condition builds text or a list longer than :data:`MAX_BUILT` (such a result is missing).

Types: every value has one (number, text, boolean, date, datetime, duration, list, table). A
:class:`FieldType` says what a lead field holds; the type walker reads what a condition says of
its fields (``score >= 50``: a number), and finds the parts whose values can never go together
given the fields' types (``score >= 'fifty'``). :func:`check_field_values` checks an event's
values against the types.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, Final

from attrs import field, frozen

from leadsla._core.duration import Duration
from leadsla._core.errors import (
    AgreementError,
    ConditionError,
    DurationError,
    Problem,
    did_you_mean,
)

__all__ = [
    "ARGUMENT_TYPES",
    "FIELD_KINDS",
    "FUNCTIONS",
    "MAX_BUILT",
    "MISSING",
    "SIMPLE_FIELD_KINDS",
    "ArgumentType",
    "Check",
    "Condition",
    "ConditionError",
    "Explanation",
    "FieldType",
    "Function",
    "Scope",
    "Term",
    "Terms",
    "TypeClue",
    "check_field_values",
    "field_checker",
]


class _Missing:
    """The value of a field that is absent or null."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "MISSING"


#: The value of an absent or null field inside a condition.
MISSING: Final = _Missing()

RESERVED_NAMES: Final = frozenset({"now", "state", "owner", "team"})
_CONSTANT_NAMES: Final[dict[str, object]] = {"true": True, "false": False, "null": None}


_NO_TERMS: Final[Mapping[str, Any]] = {}
_NO_TYPES: Final[Mapping[str, Any]] = {}


_new_scope: Final = object.__new__


class Scope:
    """What a condition sees: the lead's fields, the event's time and the lead's position."""

    __slots__ = ("_inputs", "_memo", "fields", "now", "owner", "state", "team", "terms")

    def __init__(
        self,
        fields: Mapping[str, Any],
        now: datetime | None = None,
        state: str | None = None,
        owner: str | None = None,
        team: str | None = None,
        terms: Mapping[str, Callable[[Scope], bool]] = _NO_TERMS,
    ) -> None:
        self.fields = fields
        self.now = now
        self.state = state
        self.owner = owner
        self.team = team
        self.terms = terms
        self._memo: dict[str, bool] | None = None
        self._inputs: tuple[Any, ...] | None = None

    @classmethod
    def of(
        cls,
        fields: Mapping[str, Any],
        now: datetime | None,
        state: str | None,
        owner: str | None,
        team: str | None,
        terms: Mapping[str, Callable[[Scope], bool]],
    ) -> Scope:
        """``Scope(...)`` with every argument given, for hot paths: no ``__init__`` call."""
        scope = _new_scope(cls)
        scope.fields = fields
        scope.now = now
        scope.state = state
        scope.owner = owner
        scope.team = team
        scope.terms = terms
        scope._memo = None
        scope._inputs = None
        return scope

    def inputs(self) -> tuple[Any, ...]:
        """``(fields, now, state, owner, team)``, made once: explanations share it."""
        inputs = self._inputs
        if inputs is None:
            inputs = self._inputs = (self.fields, self.now, self.state, self.owner, self.team)
        return inputs

    def term(self, name: str) -> bool:
        """The value of term ``name`` for this scope, computed once."""
        memo = self._memo
        if memo is None:
            memo = self._memo = {}
        value = memo.get(name)
        if value is None:
            value = memo[name] = self.terms[name](self)
        return value

    def reserved(self, name: str) -> Any:
        value = getattr(self, name)
        return MISSING if value is None else value


# ------------------------------------------------------------------------------------------
# Semantics shared by the compiler and the tracer.

_COMPARE: Final[dict[type[ast.cmpop], Callable[[Any, Any], Any]]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda item, container: item in container,
    ast.NotIn: lambda item, container: item not in container,
}
_COMPARE_TEXT: Final[dict[type[ast.cmpop], str]] = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.In: "in",
    ast.NotIn: "not in",
}
_ARITHMETIC: Final[dict[type[ast.operator], Callable[[Any, Any], Any]]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}


def _coerce_pair(left: Any, right: Any) -> tuple[Any, Any]:
    """Let an ISO text field compare with a date or datetime (JSON has no date type)."""
    if isinstance(left, str) and isinstance(right, (date, datetime)):
        parsed = _parse_moment(left, like=right)
        if parsed is not MISSING:
            return parsed, right
    elif isinstance(right, str) and isinstance(left, (date, datetime)):
        parsed = _parse_moment(right, like=left)
        if parsed is not MISSING:
            return left, parsed
    return left, right


def _parse_moment(text: str, *, like: date | datetime) -> Any:
    try:
        if isinstance(like, datetime):
            return datetime.fromisoformat(text)
        return date.fromisoformat(text[:10])
    except ValueError:
        return MISSING


def compare(op: Callable[[Any, Any], Any], left: Any, right: Any) -> tuple[bool, str | None]:
    """Compare two values; a missing or incomparable operand makes the comparison false.

    A list (from JSON) and a tuple (a literal) with the same items are equal.
    """
    if left is MISSING or right is MISSING:
        return False, "missing"
    if isinstance(left, list):
        left = tuple(left)
    if isinstance(right, list):
        right = tuple(right)
    try:
        return bool(op(left, right)), None
    except TypeError:
        pass
    left, right = _coerce_pair(left, right)
    try:
        return bool(op(left, right)), None
    except TypeError:
        return False, f"cannot compare {_show(left)} with {_show(right)}"


#: The longest text, and the most items of a list, a condition builds by joining (``+``) or
#: repeating (``*``): an operation that would make more is missing instead.
MAX_BUILT: Final = 10_000

_SEQUENCES: Final = (str, bytes, bytearray, list, tuple)


def _oversize(op: Callable[[Any, Any], Any], left: Any, right: Any) -> str | None:
    """Why joining or repeating ``left`` and ``right`` would build too much, else None."""
    if op is operator.mod and isinstance(left, (str, bytes, bytearray)):
        return "formats text with %, which conditions do not do"
    if op is operator.add and isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
        size, made = len(left) + len(right), left
    elif op is operator.mul and isinstance(left, _SEQUENCES) and isinstance(right, int):
        size, made = len(left) * right, left
    elif op is operator.mul and isinstance(right, _SEQUENCES) and isinstance(left, int):
        size, made = len(right) * left, right
    else:
        return None
    if size <= MAX_BUILT:
        return None
    unit = "characters" if isinstance(made, str) else "items"
    return f"would make {size} {unit}, more than the {MAX_BUILT} a condition may build"


#: The operators that can build text or lists: +, * and % (formatting).
_BUILDING: Final = frozenset({operator.add, operator.mul, operator.mod})


def _arithmetic(op: Callable[[Any, Any], Any], left: Any, right: Any) -> Any:
    """``op(left, right)``, or missing: for a missing operand, a failure, or a result longer
    than :data:`MAX_BUILT`. ISO text meets a date or datetime as it does in comparisons."""
    if left is MISSING or right is MISSING:
        return MISSING
    if (isinstance(left, _SEQUENCES) or isinstance(right, _SEQUENCES)) and _oversize(
        op, left, right
    ):
        return MISSING
    return _calculate(op, left, right)


def _calculate(op: Callable[[Any, Any], Any], left: Any, right: Any) -> Any:
    """``op(left, right)`` for operators that build nothing (-, /, //): missing on failure."""
    if left is MISSING or right is MISSING:
        return MISSING
    try:
        return op(left, right)
    except TypeError:
        pass
    except (ZeroDivisionError, OverflowError, ValueError):
        return MISSING
    coerced = _coerce_pair(left, right)
    if coerced[0] is left and coerced[1] is right:
        return MISSING
    try:
        return op(*coerced)
    except (TypeError, ZeroDivisionError, OverflowError, ValueError):
        return MISSING


def _unary(op: Callable[[Any], Any], value: Any) -> Any:
    """``-x`` or ``+x``: missing for a missing value or one that is not a number."""
    if value is MISSING:
        return MISSING
    try:
        return op(value)
    except TypeError:
        return MISSING


_UNARY: Final[dict[type[ast.unaryop], Callable[[Any], Any]]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


def _show(value: Any) -> str:
    if value is MISSING:
        return "missing"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return repr(value)


# -- functions ---------------------------------------------------------------------------------


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else MISSING


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else MISSING


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else MISSING


def _length(value: Any) -> Any:
    try:
        return MISSING if value is MISSING else len(value)
    except TypeError:
        return MISSING


def _contains(haystack: Any, needle: Any) -> Any:
    if haystack is MISSING or needle is MISSING:
        return False
    try:
        return needle in haystack
    except TypeError:
        return False


def _startswith(value: Any, prefix: Any) -> Any:
    return isinstance(value, str) and isinstance(prefix, str) and value.startswith(prefix)


def _endswith(value: Any, suffix: Any) -> Any:
    return isinstance(value, str) and isinstance(suffix, str) and value.endswith(suffix)


def _domain(value: Any) -> Any:
    if not isinstance(value, str) or "@" not in value:
        return MISSING
    return value.rsplit("@", 1)[1].strip().lower()


def _to_date(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return _parse_moment(value, like=date.min)
    return MISSING


def _to_datetime(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return _parse_moment(value, like=datetime.min)
    return MISSING


def _coalesce(*values: Any) -> Any:
    return next((value for value in values if value is not MISSING), MISSING)


def _absolute(value: Any) -> Any:
    try:
        return MISSING if value is MISSING else abs(value)
    except TypeError:
        return MISSING


def _smallest(*values: Any) -> Any:
    present = [value for value in values if value is not MISSING]
    try:
        return min(present) if present else MISSING
    except TypeError:
        return MISSING


def _largest(*values: Any) -> Any:
    present = [value for value in values if value is not MISSING]
    try:
        return max(present) if present else MISSING
    except TypeError:
        return MISSING


class _Refused(Exception):
    """A constant argument a function cannot use: what is wrong and the fix."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix


def _pattern(text: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as error:
        raise _Refused(f"has a bad regular expression ({error})", "fix the pattern") from None


def _calendar_duration(text: str, where: str) -> timedelta:
    parsed = Duration.parse(text, field=where)
    if parsed.business:
        raise DurationError(
            Problem(
                where,
                text,
                "uses business time in a condition, which has no calendar",
                "use calendar time, e.g. duration('30 days'), or an obligation",
            )
        )
    return _duration_value(parsed)


@frozen
class ArgumentType:
    """What a function's argument may be: the types it takes and what it says of a field.

    ``accepts`` are the types of value the argument takes (``any`` takes everything); a field
    of unknown type given here has type ``clue``, when the argument says. ``constant`` says how
    the argument must be written when it must be constant text (the pattern of ``matches``), and
    ``prepare`` turns that text into the value the implementation gets, once. ``field`` is for
    ``has`` and ``missing``, which take a field name.
    """

    name: str
    accepts: frozenset[str]
    words: str  # what it takes, for messages: "text", "a number"
    clue: str | None = None
    constant: str | None = None
    prepare: Callable[[str, str], Any] | None = None
    field: bool = False

    def takes(self, kind: str | None) -> bool:
        """Whether a value of static type ``kind`` (None: not known) fits."""
        return kind is None or kind == "any" or "any" in self.accepts or kind in self.accepts


#: The types of function arguments. ``same``: every ``same`` argument of a call has one type,
#: which is also the call's result (``coalesce``, ``min``, ``max``).
ARGUMENT_TYPES: Final[Mapping[str, ArgumentType]] = {
    argument.name: argument
    for argument in (
        ArgumentType("text", frozenset({"text"}), "text", clue="text"),
        ArgumentType("number", frozenset({"number", "boolean"}), "a number", clue="number"),
        ArgumentType("value", frozenset({"any"}), "any value"),
        ArgumentType("same", frozenset({"any"}), "values of one type"),
        ArgumentType("sized", frozenset({"text", "list", "table"}), "text, a list or a table"),
        ArgumentType(
            "moment", frozenset({"date", "datetime", "text"}), "a date, a datetime or ISO text"
        ),
        ArgumentType(
            "pattern",
            frozenset({"text"}),
            "constant text",
            constant="a constant pattern",
            prepare=_pattern,
        ),
        ArgumentType(
            "duration",
            frozenset({"text"}),
            "constant text",
            constant="constant text",
            prepare=_calendar_duration,
        ),
        ArgumentType("field", frozenset({"any"}), "a field name", field=True),
    )
}


@frozen
class Function:
    """One function of the condition language: all that every walker of a condition needs.

    The checker reads the arity, the argument types (constant text, field names) and
    ``refuses``; the compiler and the tracer call ``implementation`` with the argument values
    (prepared constants as such, and the event's time last when ``uses_now``), and the tracer
    shows ``now`` among the values read when ``uses_now``; the type walker reads the argument
    and result types; the reference page lists ``signature`` and ``meaning``. ``example`` is a
    call that works. Adding a function is adding one entry to :data:`FUNCTIONS`.
    """

    name: str
    implementation: Callable[..., Any]
    takes: tuple[str, ...] = field(kw_only=True)  # ARGUMENT_TYPES; with variadic, the last repeats
    gives: str = field(kw_only=True)  # the result's type, or "same": that of its same arguments
    signature: str = field(kw_only=True)
    meaning: str = field(kw_only=True)
    example: str = field(kw_only=True)
    variadic: bool = field(default=False, kw_only=True)
    uses_now: bool = field(default=False, kw_only=True)
    refuses: str | None = field(default=None, kw_only=True)  # refused constants: why

    @property
    def arity(self) -> tuple[int, int | None]:
        """The least and the most arguments (None: no limit)."""
        count = len(self.takes)
        return count, None if self.variadic else count

    def parameter(self, index: int) -> ArgumentType:
        """The type of argument number ``index`` (from 0)."""
        return ARGUMENT_TYPES[self.takes[min(index, len(self.takes) - 1)]]


def _is_present(value: Any) -> bool:
    return value is not MISSING


def _is_missing(value: Any) -> bool:
    return value is MISSING


def _same(value: Any) -> Any:
    return value


def _days_since(value: Any, now: datetime | None) -> Any:
    """Days from ``value`` to the event's time. Text is read as ISO 8601: a date counts whole
    days; a time without an offset is read in the event's zone."""
    if now is None:
        return MISSING
    moment = value
    if isinstance(moment, str):
        text = moment.strip()
        if len(text) == 10:
            moment = _parse_moment(text, like=date.min)
        else:
            moment = _parse_moment(text, like=datetime.min)
            if isinstance(moment, datetime) and moment.tzinfo is None:
                moment = moment.replace(tzinfo=now.tzinfo)
    if isinstance(moment, date) and not isinstance(moment, datetime):
        return (now.date() - moment).days
    if not isinstance(moment, datetime):
        return MISSING
    try:
        return (now - moment) / timedelta(days=1)
    except TypeError:
        return MISSING


def _matches(value: Any, pattern: re.Pattern[str]) -> bool:
    return isinstance(value, str) and pattern.search(value) is not None


#: The functions conditions may call, by name.
FUNCTIONS: Final[Mapping[str, Function]] = {
    function.name: function
    for function in (
        Function(
            "lower",
            _lower,
            takes=("text",),
            gives="text",
            signature="lower(text)",
            meaning="the text in lower case",
            example="lower(country)",
        ),
        Function(
            "upper",
            _upper,
            takes=("text",),
            gives="text",
            signature="upper(text)",
            meaning="the text in upper case",
            example="upper(country)",
        ),
        Function(
            "strip",
            _strip,
            takes=("text",),
            gives="text",
            signature="strip(text)",
            meaning="the text without surrounding white space",
            example="strip(country)",
        ),
        Function(
            "len",
            _length,
            takes=("sized",),
            gives="number",
            signature="len(value)",
            meaning="the length of a text or a list",
            example="len(email)",
        ),
        Function(
            "contains",
            _contains,
            takes=("sized", "value"),
            gives="boolean",
            signature="contains(text_or_list, part)",
            meaning=(
                "whether the part is in the text (a substring) or the list; false when "
                "either is missing"
            ),
            example="contains(tags, 'vip')",
        ),
        Function(
            "startswith",
            _startswith,
            takes=("text", "text"),
            gives="boolean",
            signature="startswith(text, prefix)",
            meaning="whether the text starts with the prefix; false for anything that is not text",
            example="startswith(phone, '+358')",
        ),
        Function(
            "endswith",
            _endswith,
            takes=("text", "text"),
            gives="boolean",
            signature="endswith(text, suffix)",
            meaning="whether the text ends with the suffix; false for anything that is not text",
            example="endswith(email, '.fi')",
        ),
        Function(
            "matches",
            _matches,
            takes=("text", "pattern"),
            gives="boolean",
            signature="matches(text, 'regex')",
            meaning=(
                "whether the regular expression matches somewhere in the text "
                "(`re.search`); the pattern must be constant text and is checked when the "
                "condition is made"
            ),
            example="matches(email, '@acme[.]com$')",
        ),
        Function(
            "domain",
            _domain,
            takes=("text",),
            gives="text",
            signature="domain(email)",
            meaning="the part after the last `@`, stripped and in lower case",
            example="domain(email)",
        ),
        Function(
            "date",
            _to_date,
            takes=("moment",),
            gives="date",
            signature="date(value)",
            meaning=(
                "a date from a date, a datetime or ISO text (`'2026-03-02'`, or the date "
                "part of an ISO datetime)"
            ),
            example="date('2026-03-02')",
            refuses="text that is not an ISO date",
        ),
        Function(
            "datetime",
            _to_datetime,
            takes=("moment",),
            gives="datetime",
            signature="datetime(value)",
            meaning="a datetime from a datetime or ISO text (`'2026-03-02T09:00+02:00'`)",
            example="datetime('2026-03-02T09:00+02:00')",
            refuses="text that is not an ISO datetime",
        ),
        Function(
            "duration",
            _same,
            takes=("duration",),
            gives="duration",
            signature="duration('30 days')",
            meaning=(
                "a length of calendar time, to compare with a difference of datetimes; "
                "constant text only; days and weeks count 24 hours each; business time is "
                "refused (a condition has no calendar)"
            ),
            example="duration('30 days')",
        ),
        Function(
            "days_since",
            _days_since,
            takes=("moment",),
            gives="number",
            signature="days_since(value)",
            meaning=(
                "days from a date or a datetime to `now`: whole days for a date (or ISO "
                "date text), fractional for a datetime; ISO datetime text without an offset "
                "is read in the zone of `now`"
            ),
            example="days_since(signed)",
            uses_now=True,
        ),
        Function(
            "coalesce",
            _coalesce,
            takes=("same", "same"),
            gives="same",
            signature="coalesce(value, fallback, ...)",
            meaning="the first argument that is not missing",
            example="coalesce(score, 0)",
            variadic=True,
        ),
        Function(
            "abs",
            _absolute,
            takes=("number",),
            gives="number",
            signature="abs(number)",
            meaning="the absolute value",
            example="abs(score)",
        ),
        Function(
            "min",
            _smallest,
            takes=("same",),
            gives="same",
            signature="min(a, b, ...)",
            meaning="the smallest of the values that are not missing",
            example="min(score, 100)",
            variadic=True,
        ),
        Function(
            "max",
            _largest,
            takes=("same",),
            gives="same",
            signature="max(a, b, ...)",
            meaning="the largest of the values that are not missing",
            example="max(score, 0)",
            variadic=True,
        ),
        Function(
            "has",
            _is_present,
            takes=("field",),
            gives="boolean",
            signature="has(field)",
            meaning=(
                "whether the field is present and not null; takes a field name, not an expression"
            ),
            example="has(email)",
        ),
        Function(
            "missing",
            _is_missing,
            takes=("field",),
            gives="boolean",
            signature="missing(field)",
            meaning="whether the field is absent or null; takes a field name, not an expression",
            example="missing(email)",
        ),
    )
}


# ------------------------------------------------------------------------------------------
# Parsing and checking against the whitelist.

_ALLOWED_NODES: Final = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.BinOp,
    ast.Compare,
    ast.Name,
    ast.Attribute,
    ast.Constant,
    ast.List,
    ast.Tuple,
    ast.Set,
    ast.Call,
    ast.Load,
    *_ARITHMETIC,
    *_COMPARE,
)
_NODE_WORDS: Final[dict[type[ast.AST], str]] = {
    ast.Lambda: "a lambda",
    ast.Subscript: "indexing with []",
    ast.IfExp: "an if-else expression",
    ast.Is: "'is'",
    ast.IsNot: "'is not'",
    ast.Dict: "a dict literal",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a comprehension",
    ast.NamedExpr: "':='",
    ast.Starred: "'*' unpacking",
    ast.JoinedStr: "an f-string",
    ast.Await: "'await'",
    ast.Pow: "'**'",
    ast.BitAnd: "'&' (write 'and')",
    ast.BitOr: "'|' (write 'or')",
    ast.Invert: "'~' (write 'not')",
}


def _is_null(node: ast.AST) -> bool:
    return (isinstance(node, ast.Constant) and node.value is None) or (
        isinstance(node, ast.Name) and node.id == "null"
    )


def _node_text(source: str, node: ast.AST) -> str:
    segment = ast.get_source_segment(source, node)
    return segment if segment is not None else ast.unparse(node)


class _Checker:
    """Walks a parsed condition and collects every problem with where it is."""

    def __init__(self, source: str, where: str) -> None:
        self.source = source
        self.where = where
        self.problems: list[Problem] = []
        self.names: set[str] = set()

    def problem(self, node: ast.AST, message: str, fix: str) -> None:
        column = getattr(node, "col_offset", None)
        at = f" at column {column + 1}" if column is not None else ""
        self.problems.append(Problem(self.where, self.source, f"{message}{at}", fix))

    def dunder(self, node: ast.AST, name: str) -> None:
        self.problem(
            node,
            f"uses the name {name!r}: names starting with '__' are not allowed",
            "rename the field so that it does not start with '__'",
        )

    def visit(self, node: ast.AST) -> None:
        if not isinstance(node, _ALLOWED_NODES):
            word = _NODE_WORDS.get(type(node), f"'{type(node).__name__}'")
            self.problem(node, f"uses {word}, which conditions do not allow", _SYNTAX_HELP)
            return
        if isinstance(node, ast.Constant) and not isinstance(
            node.value, (str, int, float, bool, type(None))
        ):
            self.problem(node, f"uses the constant {node.value!r}", _SYNTAX_HELP)
            return
        if isinstance(node, ast.Attribute) and _field_path(node) is None:
            self.problem(
                node,
                "uses a method or attribute of a value",
                "read nested fields as a.b.c; use functions like lower(x) for text",
            )
            return
        if isinstance(node, (ast.Name, ast.Attribute)):
            path = _field_path(node)
            assert path is not None
            dunder = next((part for part in path if part.startswith("__")), None)
            if dunder is not None:
                self.dunder(node, dunder)
            elif path[0] not in _CONSTANT_NAMES:
                self.names.add(path[0])
            return
        if isinstance(node, ast.Call):
            self.visit_call(node)
            return
        if isinstance(node, ast.BinOp) and self.builds(node):
            return
        if (
            isinstance(node, ast.Compare)
            and all(type(op) in _COMPARE for op in node.ops)
            and any(_is_null(operand) for operand in (node.left, *node.comparators))
        ):
            self.problem(
                node,
                "compares with null, which is always false (a null field is missing)",
                "write missing(x) or has(x) instead",
            )
            return
        for child in ast.iter_child_nodes(node):
            self.visit(child)

    def builds(self, node: ast.BinOp) -> bool:
        """Refuse repeating written text or lists (``'x' * n``) and formatting text with %."""
        operands = (node.left, node.right)
        if isinstance(node.op, ast.Mult):
            for operand in operands:
                if isinstance(operand, ast.Constant) and isinstance(operand.value, str):
                    what = "text"
                elif isinstance(operand, (ast.List, ast.Tuple, ast.Set)):
                    what = "a list"
                else:
                    continue
                self.problem(
                    node,
                    f"repeats {what} with '*', which conditions do not do",
                    "multiply numbers only; test text with ==, in or functions such as "
                    "contains(x, part)",
                )
                return True
        if (
            isinstance(node.op, ast.Mod)
            and isinstance(node.left, ast.Constant)
            and isinstance(node.left.value, str)
        ):
            self.problem(
                node,
                "formats text with '%', which conditions do not do",
                "use % for the remainder of numbers only; join text with +",
            )
            return True
        return False

    def visit_call(self, node: ast.Call) -> None:
        if not isinstance(node.func, ast.Name):
            self.problem(
                node, "calls a method", "call one of the functions instead, e.g. lower(email)"
            )
            return
        name = node.func.id
        function = FUNCTIONS.get(name)
        if function is None:
            if name.startswith("__"):
                self.dunder(node, name)
                return
            hint = did_you_mean(name, list(FUNCTIONS))
            self.problem(
                node,
                f"calls an unknown function {name!r}",
                f"use one of {', '.join(sorted(FUNCTIONS))}{hint}",
            )
            return
        if node.keywords:
            self.problem(
                node, f"passes keyword arguments to {name}()", f"write {function.signature}"
            )
            return
        low, high = function.arity
        count = len(node.args)
        if count < low or (high is not None and count > high):
            self.problem(
                node,
                f"gives {name}() {count} argument{'s' * (count != 1)}",
                f"write {function.signature}",
            )
            return
        for index, argument in enumerate(node.args):
            kind = function.parameter(index)
            if kind.field and _field_path(argument) is None:
                self.problem(
                    node, f"{name}() needs a field name", f"write {name}(score) for example"
                )
                return
            if kind.constant is None:
                continue
            if not (isinstance(argument, ast.Constant) and isinstance(argument.value, str)):
                self.problem(node, f"{name}() needs {kind.constant}", f"write {function.example}")
                return
            assert kind.prepare is not None
            try:
                kind.prepare(argument.value, self.where)
            except _Refused as refused:
                self.problem(node, refused.message, refused.fix)
                return
            except DurationError as error:
                self.problems.extend(error.problems)
                return
        if function.refuses is not None and all(
            isinstance(argument, ast.Constant) for argument in node.args
        ):
            constants = [argument.value for argument in node.args]  # type: ignore[attr-defined]
            if function.implementation(*constants) is MISSING:
                self.problem(
                    node,
                    f"gives {name}() {function.refuses}",
                    f"write {function.example} or {name}(field)",
                )
                return
        for argument in node.args:
            self.visit(argument)


_SYNTAX_HELP: Final = (
    "write comparisons (==, !=, <, <=, >, >=, in, not in), 'and', 'or', 'not', arithmetic, "
    "lists, and functions such as lower(x), has(x), domain(email), duration('30 days')"
)


def _duration_value(duration: Duration) -> timedelta:
    """A calendar duration's fixed length: days and weeks count 24 hours each here."""
    if duration.unit in ("days", "weeks"):
        days = duration.amount * (7 if duration.unit == "weeks" else 1)
        return timedelta(microseconds=int(days * 86_400_000_000))
    return duration.to_timedelta()


def _field_path(node: ast.AST) -> tuple[str, ...] | None:
    """``a.b.c`` as ("a", "b", "c"); None for anything that is not a plain dotted name."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return tuple(reversed(parts))


def _parse(source: str, where: str) -> tuple[ast.Expression, frozenset[str]]:
    if not isinstance(source, str) or not source.strip():
        raise ConditionError(
            Problem(where, source, "must be a non-empty expression", "write e.g. 'score >= 50'")
        )
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as error:
        column = f" at column {error.offset}" if error.offset else ""
        raise ConditionError(
            Problem(where, source, f"is not a valid expression ({error.msg}{column})", _SYNTAX_HELP)
        ) from None
    checker = _Checker(source.strip(), where)
    checker.visit(tree)
    if checker.problems:
        raise ConditionError(*checker.problems)
    return tree, frozenset(checker.names)


# ------------------------------------------------------------------------------------------
# The fast path: closures.

_Compiled = Callable[[Scope], Any]


def _read_path(fields: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = fields
    for part in path:
        if not isinstance(value, Mapping):
            return MISSING
        value = value.get(part)
        if value is None:
            return MISSING
    return value


class _Compiler:
    def __init__(self, terms: frozenset[str]) -> None:
        self.terms = terms

    def compile(self, node: ast.AST) -> _Compiled:
        if isinstance(node, ast.Expression):
            return self.compile(node.body)
        if isinstance(node, ast.Constant):
            constant = node.value
            if constant is None:
                return lambda scope: MISSING
            return lambda scope: constant
        if isinstance(node, ast.Name):
            return self.name(node.id)
        if isinstance(node, ast.Attribute):
            path = _field_path(node)
            assert path is not None
            return lambda scope: _read_path(scope.fields, path)
        if isinstance(node, ast.BoolOp):
            return self.boolean(node)
        if isinstance(node, ast.UnaryOp):
            operand = self.compile(node.operand)
            if isinstance(node.op, ast.Not):
                return lambda scope: not operand(scope)
            unary = _UNARY[type(node.op)]
            return lambda scope: _unary(unary, operand(scope))
        if isinstance(node, ast.BinOp):
            left, right = self.compile(node.left), self.compile(node.right)
            arithmetic = _ARITHMETIC[type(node.op)]
            checked = _arithmetic if arithmetic in _BUILDING else _calculate
            return lambda scope: checked(arithmetic, left(scope), right(scope))
        if isinstance(node, ast.Compare):
            return self.comparison(node)
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            return self.collection(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        raise AssertionError(f"unchecked node {node!r}")  # the checker refused it already

    def name(self, name: str) -> _Compiled:
        if name in _CONSTANT_NAMES:
            constant = _CONSTANT_NAMES[name]
            return (lambda scope: MISSING) if constant is None else (lambda scope: constant)
        if name in RESERVED_NAMES:
            return lambda scope: scope.reserved(name)
        if name in self.terms:
            return lambda scope: scope.term(name)

        def read(scope: Scope) -> Any:
            value = scope.fields.get(name)
            return MISSING if value is None else value

        return read

    def boolean(self, node: ast.BoolOp) -> _Compiled:
        parts = [self.compile(value) for value in node.values]
        if isinstance(node.op, ast.And):
            if len(parts) == 2:
                first, second = parts
                return lambda scope: bool(first(scope) and second(scope))
            if len(parts) == 3:
                first, second, third = parts
                return lambda scope: bool(first(scope) and second(scope) and third(scope))
            return lambda scope: all(part(scope) for part in parts)
        if len(parts) == 2:
            first, second = parts
            return lambda scope: bool(first(scope) or second(scope))
        return lambda scope: any(part(scope) for part in parts)

    def comparison(self, node: ast.Compare) -> _Compiled:
        operands = [self.compile(node.left), *(self.compile(c) for c in node.comparators)]
        operators = [_COMPARE[type(op)] for op in node.ops]
        if len(operators) == 1:
            left, right = operands
            op = operators[0]
            constant = _constant_of(node.comparators[0])
            if (
                constant is not MISSING
                and isinstance(node.left, ast.Name)
                and (node.left.id not in RESERVED_NAMES | self.terms | _CONSTANT_NAMES.keys())
            ):
                return _field_against_constant(node.left.id, type(node.ops[0]), constant)
            if constant is not MISSING:

                def compare_with_constant(scope: Scope) -> bool:
                    value = left(scope)
                    if value is MISSING:
                        return False
                    try:
                        return bool(op(value, constant))
                    except TypeError:
                        return compare(op, value, constant)[0]

                return compare_with_constant
            return lambda scope: compare(op, left(scope), right(scope))[0]

        def chained(scope: Scope) -> bool:
            values = [operand(scope) for operand in operands]
            return all(
                compare(op, values[index], values[index + 1])[0]
                for index, op in enumerate(operators)
            )

        return chained

    def collection(self, node: ast.List | ast.Tuple | ast.Set) -> _Compiled:
        constant = _constant_of(node)
        if constant is not MISSING:
            return lambda scope: constant
        items = [self.compile(element) for element in node.elts]
        return lambda scope: tuple(item(scope) for item in items)

    def call(self, node: ast.Call) -> _Compiled:
        assert isinstance(node.func, ast.Name)
        function = FUNCTIONS[node.func.id]
        implementation = function.implementation
        arguments: list[_Compiled] = []
        constants: list[Any] = []
        for index, argument in enumerate(node.args):
            prepare = function.parameter(index).prepare
            if prepare is not None:
                constant = prepare(argument.value, "condition")  # type: ignore[attr-defined]
            elif isinstance(argument, ast.Constant):
                constant = MISSING if argument.value is None else argument.value
            else:
                arguments.append(self.compile(argument))
                continue
            constants.append(constant)
            arguments.append(_constant(constant))
        if function.uses_now:
            if len(arguments) == 1:
                only = arguments[0]
                return lambda scope: implementation(only(scope), scope.now)
            return lambda scope: implementation(*[a(scope) for a in arguments], scope.now)
        if len(constants) == len(arguments):  # every argument is constant: call it once
            value = implementation(*constants)
            return lambda scope: value
        if len(arguments) == 1:
            only = arguments[0]
            return lambda scope: implementation(only(scope))
        if len(arguments) == 2:
            first, second = arguments
            if len(constants) == 1 and not isinstance(node.args[0], ast.Constant):
                fixed = constants[0]  # matches(email, 'pattern'), contains(tags, 'vip')
                return lambda scope: implementation(first(scope), fixed)
            return lambda scope: implementation(first(scope), second(scope))
        return lambda scope: implementation(*[argument(scope) for argument in arguments])


def _constant(value: Any) -> _Compiled:
    return lambda scope: value


def _field_against_constant(name: str, kind: type[ast.cmpop], constant: Any) -> _Compiled:
    """The commonest shape, ``score >= 50``, without indirection: a few dozen nanoseconds."""
    op = _COMPARE[kind]

    def slow(value: Any) -> bool:
        return compare(op, value, constant)[0]

    if kind is ast.GtE:

        def check(scope: Scope) -> bool:
            value = scope.fields.get(name)
            try:
                return value is not None and value >= constant
            except TypeError:
                return slow(value)

    elif kind is ast.Gt:

        def check(scope: Scope) -> bool:
            value = scope.fields.get(name)
            try:
                return value is not None and value > constant
            except TypeError:
                return slow(value)

    elif kind is ast.LtE:

        def check(scope: Scope) -> bool:
            value = scope.fields.get(name)
            try:
                return value is not None and value <= constant
            except TypeError:
                return slow(value)

    elif kind is ast.Lt:

        def check(scope: Scope) -> bool:
            value = scope.fields.get(name)
            try:
                return value is not None and value < constant
            except TypeError:
                return slow(value)

    elif kind is ast.Eq:

        def check(scope: Scope) -> bool:
            value = scope.fields.get(name)
            if isinstance(value, list):
                value = tuple(value)
            return value is not None and value == constant

    elif kind is ast.NotEq:

        def check(scope: Scope) -> bool:
            value = scope.fields.get(name)
            if isinstance(value, list):
                value = tuple(value)
            return value is not None and value != constant

    elif kind is ast.In:

        def check(scope: Scope) -> bool:
            value = scope.fields.get(name)
            try:
                return value is not None and value in constant
            except TypeError:
                return slow(value)

    else:

        def check(scope: Scope) -> bool:
            value = scope.fields.get(name)
            try:
                return value is not None and value not in constant
            except TypeError:
                return slow(value)

    return check


def _constant_of(node: ast.AST, *, membership: bool = False) -> Any:
    """The value of a constant operand (a literal, or a list of literals), else MISSING.

    A list of literals is a tuple, or a frozenset when it is the right side of ``in``.
    """
    if isinstance(node, ast.Constant):
        return MISSING if node.value is None else node.value
    if isinstance(node, ast.Name) and node.id in ("true", "false"):
        return node.id == "true"
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)) and all(
        isinstance(element, ast.Constant) and element.value is not None for element in node.elts
    ):
        values = [element.value for element in node.elts]  # type: ignore[attr-defined]
        if not membership or len(values) <= 3:
            return tuple(values)
        try:
            return frozenset(values)  # membership in a set is one hash
        except TypeError:
            return tuple(values)
    return MISSING


# ------------------------------------------------------------------------------------------
# The explaining path: a tracing interpreter over the same tree.


@frozen
class Check:
    """One evaluated part of a condition: its text, its value, the fields it read, its parts."""

    expression: str
    result: Any
    values: tuple[tuple[str, Any], ...] = ()
    children: tuple[Check, ...] = ()
    note: str | None = None
    label: str | None = None  # the term's name, when this part is a term

    def render(self) -> str:
        """``score >= 50 -> False (score = 42)``"""
        head = f"{self.label}: " if self.label else ""
        details = [
            f"{name} is missing" if value is MISSING else f"{name} = {_show(value)}"
            for name, value in self.values
        ]
        if self.note == "not evaluated":
            return f"{head}{self.expression} -> not evaluated"
        if self.note and self.note != "missing":
            details.append(self.note)
        suffix = f" ({', '.join(details)})" if details else ""
        return f"{head}{self.expression} -> {_show_result(self.result)}{suffix}"


def _show_result(value: Any) -> str:
    if value is True or value is False:
        return str(value)
    return _show(value)


class _Tracer:
    def __init__(self, source: str, terms: Mapping[str, Condition]) -> None:
        self.source = source
        self.terms = terms

    def text(self, node: ast.AST) -> str:
        return _node_text(self.source, node)

    def run(self, node: ast.AST, scope: Scope) -> Check:
        if isinstance(node, ast.Expression):
            return self.run(node.body, scope)
        text = self.text(node)
        if isinstance(node, ast.Constant):
            return Check(text, MISSING if node.value is None else node.value)
        if isinstance(node, ast.Name):
            return self.name(node, scope)
        if isinstance(node, ast.Attribute):
            path = _field_path(node)
            assert path is not None
            value = _read_path(scope.fields, path)
            return Check(text, value, values=((".".join(path), value),))
        if isinstance(node, ast.BoolOp):
            is_and = isinstance(node.op, ast.And)
            children: list[Check] = []
            result = is_and
            for value in node.values:
                child = self.run(value, scope)
                children.append(child)
                if bool(child.result) != is_and:
                    result = not is_and
                    break
            skipped = node.values[len(children) :]
            children.extend(Check(self.text(v), None, note="not evaluated") for v in skipped)
            return Check(text, result, children=tuple(children))
        if isinstance(node, ast.UnaryOp):
            child = self.run(node.operand, scope)
            if isinstance(node.op, ast.Not):
                return Check(text, not child.result, children=(child,))
            return self.lift(text, _unary(_UNARY[type(node.op)], child.result), [child])
        if isinstance(node, ast.BinOp):
            left, right = self.run(node.left, scope), self.run(node.right, scope)
            arithmetic = _ARITHMETIC[type(node.op)]
            value = _arithmetic(arithmetic, left.result, right.result)
            note = None
            if value is MISSING and MISSING not in (left.result, right.result):
                note = _oversize(arithmetic, left.result, right.result)
            return self.lift(text, value, [left, right], note)
        if isinstance(node, ast.Compare):
            return self.comparison(node, scope)
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            items = [self.run(element, scope) for element in node.elts]
            return self.lift(text, tuple(item.result for item in items), items)
        if isinstance(node, ast.Call):
            return self.call(node, scope)
        raise AssertionError(f"unchecked node {node!r}")

    def lift(self, text: str, value: Any, parts: Iterable[Check], note: str | None = None) -> Check:
        """A value node: fold the fields its parts read into it, keep nested conditions and
        parts that say why they came out as they did."""
        values: list[tuple[str, Any]] = []
        children: list[Check] = []
        for part in parts:
            values.extend(part.values)
            if part.children or part.label or part.note not in (None, "missing"):
                children.append(part)
        seen: set[str] = set()
        unique = []
        for name, read in values:  # values may be lists or dicts: dedupe by name, not by value
            if name not in seen:
                seen.add(name)
                unique.append((name, read))
        return Check(text, value, values=tuple(unique), children=tuple(children), note=note)

    def name(self, node: ast.Name, scope: Scope) -> Check:
        name = node.id
        if name in _CONSTANT_NAMES:
            constant = _CONSTANT_NAMES[name]
            return Check(name, MISSING if constant is None else constant)
        if name in RESERVED_NAMES:
            value = scope.reserved(name)
            return Check(name, value, values=((name, value),))
        term = self.terms.get(name)
        if term is not None:
            inner = term._tracer(self.terms).run(term._tree, scope)
            return _with_label(
                Check(
                    inner.expression, bool(inner.result), inner.values, inner.children, inner.note
                ),
                name,
            )
        value = scope.fields.get(name)
        value = MISSING if value is None else value
        return Check(name, value, values=((name, value),))

    def comparison(self, node: ast.Compare, scope: Scope) -> Check:
        operands = [self.run(node.left, scope), *(self.run(c, scope) for c in node.comparators)]
        result = True
        note = None
        for index, op in enumerate(node.ops):
            passed, why = compare(
                _COMPARE[type(op)], operands[index].result, operands[index + 1].result
            )
            if not passed:
                result, note = False, why
                break
        checked = self.lift(self.text(node), result, operands)
        return Check(checked.expression, result, checked.values, checked.children, note)

    def call(self, node: ast.Call, scope: Scope) -> Check:
        assert isinstance(node.func, ast.Name)
        function = FUNCTIONS[node.func.id]
        arguments = [self.run(argument, scope) for argument in node.args]
        results = [argument.result for argument in arguments]
        for index, result in enumerate(results):
            prepare = function.parameter(index).prepare
            if prepare is not None:
                results[index] = prepare(result, "condition")
        if function.uses_now:
            value = function.implementation(*results, scope.now)
            arguments.append(Check("now", scope.now, values=(("now", scope.now),)))
        else:
            value = function.implementation(*results)
        return self.lift(self.text(node), value, arguments)


def _with_label(check: Check, label: str) -> Check:
    return Check(check.expression, check.result, check.values, check.children, check.note, label)


# ------------------------------------------------------------------------------------------
# Types: what a field holds, said by the agreement or read from the conditions, and checked.

#: The types a field may have, written as a name alone.
SIMPLE_FIELD_KINDS: Final = (
    "text",
    "number",
    "boolean",
    "date",
    "datetime",
    "list",
    "table",
    "any",
)
#: Every type a field may have: a ``choice`` also lists its values.
FIELD_KINDS: Final = (*SIMPLE_FIELD_KINDS, "choice")

_KIND_WORDS: Final[Mapping[str, str]] = {
    "text": "text",
    "number": "a number",
    "boolean": "a boolean",
    "date": "a date",
    "datetime": "a datetime",
    "duration": "a duration",
    "list": "a list",
    "table": "a table",
    "any": "any value",
    "choice": "a choice",
}
_KIND_EXAMPLES: Final[Mapping[str, str]] = {
    "text": "'FI'",
    "number": "50",
    "boolean": "true",
    "date": "date('2026-03-02')",
    "datetime": "datetime('2026-03-02T09:00+02:00')",
    "duration": "duration('30 days')",
    "list": "['a', 'b']",
}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_iso_date(value: Any) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_iso_datetime(value: Any) -> bool:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return False
    return moment.utcoffset() is not None


def _field_type_problem(field: str, value: Any, message: str, fix: str) -> AgreementError:
    return AgreementError(Problem(field, value, message, fix))


def _choice_values(values: Iterable[str | int | float]) -> tuple[str | int | float, ...]:
    return tuple(values)


@frozen
class FieldType:
    """The type of a lead field: one of :data:`FIELD_KINDS`, and for a choice its values.

    Written as its name (``"number"``), or for a choice as a table of the name and the values
    (``{"type": "choice", "values": ["FI", "SE"]}``, text or numbers, not both).

    >>> FieldType.of("number").accepts(70), FieldType.of("number").accepts("70")
    (True, False)
    >>> country = FieldType.of({"type": "choice", "values": ["FI", "SE"]})
    >>> country, str(country), country.accepts("SE")
    (FieldType(kind='choice', values=('FI', 'SE')), "choice of 'FI', 'SE'", True)
    """

    kind: str
    values: tuple[str | int | float, ...] = field(default=(), converter=_choice_values)

    def __attrs_post_init__(self) -> None:
        if self.kind not in FIELD_KINDS:
            hint = did_you_mean(str(self.kind), SIMPLE_FIELD_KINDS)
            raise _field_type_problem(
                "type",
                self.kind,
                "is not a field type",
                f"use one of {', '.join(SIMPLE_FIELD_KINDS)}{hint}",
            )
        if self.kind != "choice":
            if self.values:
                raise _field_type_problem(
                    "values",
                    list(self.values),
                    f"are only for a choice, not for {self.kind}",
                    'leave them out, or write { type = "choice", values = [...] }',
                )
            return
        if not self.values:
            raise _field_type_problem(
                "values",
                None,
                "are missing: a choice lists the values the field may have",
                'write { type = "choice", values = ["FI", "SE"] }',
            )
        texts = sum(isinstance(value, str) for value in self.values)
        numbers = sum(_is_number(value) for value in self.values)
        if texts + numbers != len(self.values) or (texts and numbers):
            raise _field_type_problem(
                "values",
                list(self.values),
                "must all be text, or all numbers",
                'write e.g. values = ["FI", "SE"] or values = [1, 2, 3]',
            )
        if len(set(self.values)) != len(self.values):
            raise _field_type_problem(
                "values", list(self.values), "lists a value twice", "list each value once"
            )

    @classmethod
    def of(cls, value: object) -> FieldType:
        """A field type from its written form: a name, or a table with ``type`` and
        ``values``."""
        if isinstance(value, FieldType):
            return value
        if isinstance(value, Mapping):
            unknown_keys = sorted(str(key) for key in value if key not in ("type", "values"))
            if unknown_keys:
                raise _field_type_problem(
                    unknown_keys[0],
                    value[unknown_keys[0]],
                    "is not a known key here",
                    "use type, values",
                )
            kind = value.get("type")
            if kind is None:
                raise _field_type_problem(
                    "type", None, "is missing", 'write e.g. { type = "choice", values = ["FI"] }'
                )
            values = value.get("values", ())
            if not isinstance(values, (list, tuple)):
                raise _field_type_problem(
                    "values", values, "must be a list", 'write values = ["FI", "SE"]'
                )
            return cls(kind, values) if isinstance(kind, str) else cls._bad(kind)
        if isinstance(value, str):
            if value == "choice":
                raise _field_type_problem(
                    "type",
                    value,
                    "needs its values",
                    'write { type = "choice", values = ["FI", "SE"] }',
                )
            return cls(value)
        return cls._bad(value)

    @classmethod
    def _bad(cls, kind: object) -> FieldType:
        raise _field_type_problem(
            "type",
            kind,
            "is not a field type",
            f"use one of {', '.join(SIMPLE_FIELD_KINDS)}, or a choice",
        )

    @classmethod
    def choice(cls, *values: str | int | float) -> FieldType:
        """A field that holds one of ``values``."""
        return cls("choice", values)

    @property
    def base(self) -> str:
        """The kind of value the field holds: a choice holds text or numbers."""
        if self.kind != "choice":
            return self.kind
        return "text" if isinstance(self.values[0], str) else "number"

    def to_data(self) -> str | dict[str, Any]:
        """The written form: the name, or for a choice ``{"type": "choice", "values": [...]}``."""
        if self.kind != "choice":
            return self.kind
        return {"type": "choice", "values": list(self.values)}

    def __str__(self) -> str:
        if self.kind != "choice":
            return self.kind
        return "choice of " + ", ".join(repr(value) for value in self.values)

    def accepts(self, value: Any) -> bool:
        """Whether a field of this type may hold ``value`` (None, missing, always may)."""
        if value is None:
            return True
        check = _ACCEPTS[self.kind]
        return check(self, value)

    def problem(self, name: str, value: Any) -> Problem | None:
        """What is wrong with field ``name`` holding ``value``, or None when it may."""
        if self.accepts(value):
            return None
        where = f"fields.{name}"
        clear = "or null to make it missing"
        kind = self.kind
        if kind == "choice":
            shown = ", ".join(repr(item) for item in self.values)
            hint = _value_hint(value, self.values)
            return Problem(
                where, value, f"must be one of {shown}", f"send one of them{hint}, {clear}"
            )
        if kind == "number" and isinstance(value, str) and _is_number_text(value):
            return Problem(where, value, "must be a number", f"send {value.strip()} without quotes")
        if (
            kind == "boolean"
            and isinstance(value, str)
            and value.strip().lower() in ("true", "false")
        ):
            fix = f"send {value.strip().lower()} without quotes"
            return Problem(where, value, "must be true or false", fix)
        message, example = _VALUE_PROBLEMS[kind]
        return Problem(where, value, message, f"send {example}, {clear}")


def _value_hint(value: Any, values: Iterable[Any]) -> str:
    """`` (did you mean 'FI'?)`` for the listed value most like ``value``, case aside."""
    for item in values:
        if isinstance(item, str) and isinstance(value, str) and item.lower() == value.lower():
            return f" (did you mean {item!r}?)"
    return did_you_mean(value, [str(item) for item in values])


def _is_number_text(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


_ACCEPTS: Final[Mapping[str, Callable[[FieldType, Any], bool]]] = {
    "text": lambda kind, value: isinstance(value, str),
    "number": lambda kind, value: _is_number(value),
    "boolean": lambda kind, value: isinstance(value, bool),
    "date": lambda kind, value: (
        (isinstance(value, date) and not isinstance(value, datetime))
        or (isinstance(value, str) and _is_iso_date(value))
    ),
    "datetime": lambda kind, value: (
        (isinstance(value, datetime) and value.utcoffset() is not None)
        or (isinstance(value, str) and _is_iso_datetime(value))
    ),
    "choice": lambda kind, value: (
        (isinstance(value, str) if kind.base == "text" else _is_number(value))
        and value in kind.values
    ),
    "list": lambda kind, value: isinstance(value, (list, tuple)),
    "table": lambda kind, value: isinstance(value, Mapping),
    "any": lambda kind, value: True,
}
_VALUE_PROBLEMS: Final[Mapping[str, tuple[str, str]]] = {
    "text": ("must be text", 'text in quotes, such as "FI"'),
    "number": ("must be a number", "a number such as 70"),
    "boolean": ("must be true or false", "true or false"),
    "date": ("must be a date", 'an ISO date such as "2026-03-02"'),
    "datetime": (
        "must be a date and time with a UTC offset",
        'ISO text such as "2026-03-02T09:00:00+02:00"',
    ),
    "list": ("must be a list", 'a list such as ["a", "b"]'),
    "table": ("must be a table (an object)", 'an object such as {"city": "Espoo"}'),
}


def check_field_values(types: Mapping[str, FieldType], fields: Mapping[str, Any]) -> list[Problem]:
    """What is wrong with an event's field values, given the fields' types.

    None (make the field missing) is always allowed; a field without a type may hold anything.
    Numbers are int or float (not bool); a date is a date or ISO date text; a datetime is an
    aware datetime or ISO text with a UTC offset.

    >>> types = {"score": FieldType("number"), "country": FieldType.choice("FI", "SE")}
    >>> for problem in check_field_values(types, {"score": "70", "country": "Fi", "x": 1}):
    ...     print(problem)
    'fields.score' must be a number (got '70'); send 70 without quotes
    'fields.country' must be one of 'FI', 'SE' (got 'Fi'); send one of them (did you mean ...
    """
    problems = []
    for name, value in fields.items():
        kind = types.get(name)
        if kind is not None:
            problem = kind.problem(name, value)
            if problem is not None:
                problems.append(problem)
    return problems


#: For each type, the Python types whose values it always accepts: checked with one lookup
#: (``type(value) in ...``) before the full check, which only values of other types need.
_SURE_TYPES: Final[Mapping[str, frozenset[type]]] = {
    "text": frozenset({str}),
    "number": frozenset({int, float}),
    "boolean": frozenset({bool}),
    "list": frozenset({list, tuple}),
    "table": frozenset({dict}),
}


def field_checker(types: Mapping[str, FieldType]) -> Callable[[Mapping[str, Any]], list[Problem]]:
    """:func:`check_field_values` for fixed ``types``, made once: most values are settled by
    their Python type alone."""
    sure = {
        name: _SURE_TYPES.get(kind.kind, frozenset())
        for name, kind in types.items()
        if kind.kind != "any"
    }

    # Every (declared field, Python type) pair settled by the type alone, null included: when
    # all of an input's pairs are among them (nearly always), one C-level set test says so.
    fine = frozenset((name, kind) for name, kinds in sure.items() for kind in (*kinds, type(None)))
    is_fine = fine.issuperset

    def check(fields: Mapping[str, Any]) -> list[Problem]:
        problems: list[Problem] = []
        if is_fine(zip(fields, map(type, fields.values()), strict=False)):
            return problems
        for name, value in fields.items():
            accepted = sure.get(name)
            if accepted is None or type(value) in accepted or value is None:
                continue
            problem = types[name].problem(name, value)
            if problem is not None:
                problems.append(problem)
        return problems

    return check


@frozen
class TypeClue:
    """What a condition says of a field's type: ``score >= 50`` says ``score`` is a number.

    ``expression`` is the part of the condition that says so; ``where`` is the condition.
    """

    field: str
    type: FieldType
    expression: str
    where: str = "condition"


#: Types the type walker knows that no field is declared with.
_DECLARABLE: Final = frozenset(SIMPLE_FIELD_KINDS) - {"any"}

#: What each arithmetic operator takes and gives: (left, right, result).
_OPERATOR_TYPES: Final[Mapping[type[ast.operator], tuple[tuple[str, str, str], ...]]] = {
    ast.Add: (
        ("number", "number", "number"),
        ("text", "text", "text"),
        ("list", "list", "list"),
        ("datetime", "duration", "datetime"),
        ("duration", "datetime", "datetime"),
        ("date", "duration", "date"),
        ("duration", "date", "date"),
        ("duration", "duration", "duration"),
    ),
    ast.Sub: (
        ("number", "number", "number"),
        ("datetime", "datetime", "duration"),
        ("date", "date", "duration"),
        ("datetime", "duration", "datetime"),
        ("date", "duration", "date"),
        ("duration", "duration", "duration"),
    ),
    ast.Mult: (
        ("number", "number", "number"),
        ("duration", "number", "duration"),
        ("number", "duration", "duration"),
    ),
    ast.Div: (
        ("number", "number", "number"),
        ("duration", "number", "duration"),
        ("duration", "duration", "number"),
    ),
    ast.FloorDiv: (
        ("number", "number", "number"),
        ("duration", "number", "duration"),
        ("duration", "duration", "number"),
    ),
    ast.Mod: (("number", "number", "number"), ("duration", "duration", "duration")),
}
_OPERATOR_SYMBOLS: Final[Mapping[type[ast.operator], str]] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
}
_UNARY_TYPES: Final = (("number", "number"), ("duration", "duration"))


def _fits(kind: str | None, wanted: str) -> bool:
    """Whether a value of static type ``kind`` fits an operand of type ``wanted``."""
    return kind is None or kind in ("any", wanted) or (wanted, kind) == ("number", "boolean")


@frozen
class _Static:
    """What the type walker knows of a part of a condition."""

    kind: str | None  # None: not known
    text: str
    field: str | None = None  # the field (or reserved name) this part reads
    origin: str = ""  # how the field's type is known, for messages
    choice: tuple[Any, ...] = ()
    constant: Any = MISSING
    elements: tuple[_Static, ...] | None = None  # the items of a written list
    declarable: bool = True  # the field is a lead field (not a reserved name)

    def describe(self) -> str:
        """``score (declared number)``, ``'fifty' (text)``."""
        kind = _KIND_WORDS.get(self.kind or "", "a value")
        if self.choice:
            shown = ", ".join(repr(value) for value in self.choice[:4])
            more = ", ..." if len(self.choice) > 4 else ""
            kind = f"one of {shown}{more}"
        if self.field is not None and self.origin:
            return f"{self.text} ({self.origin})"
        return f"{self.text} ({kind})"


class _Typer:
    """Works out the type of each part of a condition, given what is known of the fields.

    A field of unknown type takes the type the first part that says one gives it (its *clue*),
    and keeps it for the rest of the condition; a part whose operands do not go together is a
    problem.
    """

    def __init__(
        self,
        source: str,
        where: str,
        types: Mapping[str, FieldType | TypeClue],
        terms: frozenset[str],
    ) -> None:
        self.source = source
        self.where = where
        self.types = types
        self.terms = terms
        self.clues: dict[str, TypeClue] = {}
        self.problems: list[Problem] = []
        self.seen: dict[int, _Static] = {}

    def text(self, node: ast.AST) -> str:
        return _node_text(self.source, node)

    def problem(self, node: ast.AST, message: str, fix: str) -> None:
        self.problems.append(Problem(self.where, self.text(node), message, fix))

    def visit(self, node: ast.AST) -> _Static:
        static = self.kind(node)
        self.seen[id(node)] = static
        return static

    def kind(self, node: ast.AST) -> _Static:
        if isinstance(node, ast.Expression):
            return self.visit(node.body)
        text = self.text(node)
        if isinstance(node, ast.Constant):
            value = node.value
            if value is None:
                return _Static(None, text)
            kind = (
                "boolean"
                if isinstance(value, bool)
                else "text"
                if isinstance(value, str)
                else "number"
            )
            return _Static(kind, text, constant=value)
        if isinstance(node, ast.Name):
            return self.name(node.id)
        if isinstance(node, ast.Attribute):
            path = _field_path(node)
            assert path is not None
            root = self.name(path[0])
            if root.kind is None and root.field is not None and root.declarable:
                self.clue(root.field, "table", text)
                root = self.name(path[0])
            elif root.kind not in (None, "any", "table"):
                self.problem(
                    node,
                    f"reads {text}, but {root.describe()} has no nested fields",
                    f"read {path[0]} itself"
                    + (
                        f", or declare {path[0]} as table under [fields]" if root.declarable else ""
                    ),
                )
            return _Static(None, text)
        if isinstance(node, ast.BoolOp):
            for part in node.values:
                self.visit(part)
            return _Static("boolean", text)
        if isinstance(node, ast.UnaryOp):
            operand = self.visit(node.operand)
            if isinstance(node.op, ast.Not):
                return _Static("boolean", text)
            symbol = "-" if isinstance(node.op, ast.USub) else "+"
            unary = self.operate(node, [(node.operand, operand)], _UNARY_TYPES, symbol)
            return _Static(unary, text)
        if isinstance(node, ast.BinOp):
            left, right = self.visit(node.left), self.visit(node.right)
            symbol = _OPERATOR_SYMBOLS[type(node.op)]
            signatures = _OPERATOR_TYPES[type(node.op)]
            operands = [(node.left, left), (node.right, right)]
            return _Static(self.operate(node, operands, signatures, symbol), text)
        if isinstance(node, ast.Compare):
            statics = [self.visit(node.left), *(self.visit(c) for c in node.comparators)]
            parts = [node.left, *node.comparators]
            for index, op in enumerate(node.ops):
                self.compare(
                    node, op, parts[index], statics[index], parts[index + 1], statics[index + 1]
                )
            return _Static("boolean", text)
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            elements = tuple(self.visit(element) for element in node.elts)
            return _Static("list", text, elements=elements)
        if isinstance(node, ast.Call):
            return self.call(node)
        raise AssertionError(f"unchecked node {node!r}")

    def name(self, name: str) -> _Static:
        if name in ("true", "false"):
            return _Static("boolean", name, constant=name == "true")
        if name == "null":
            return _Static(None, name)
        if name in self.terms:
            return _Static("boolean", name, declarable=False)
        if name in RESERVED_NAMES:
            given = self.types.get(name)
            if isinstance(given, FieldType):
                return _Static(given.base, name, name, choice=given.values, declarable=False)
            return _Static("datetime" if name == "now" else "text", name, name, declarable=False)
        given = self.types.get(name)
        if isinstance(given, TypeClue):
            origin = f"{given.type}, by {given.where}: {given.expression}"
            return _Static(given.type.base, name, name, origin, given.type.values)
        if isinstance(given, FieldType):
            return _Static(given.base, name, name, f"declared {given}", given.values)
        clue = self.clues.get(name)
        if clue is not None:
            return _Static(clue.type.base, name, name, f"{clue.type}, by {clue.expression}")
        return _Static(None, name, name)

    def clue(self, name: str, kind: str, evidence: str) -> None:
        if name not in self.clues and name not in self.types:
            self.clues[name] = TypeClue(name, FieldType(kind), evidence, self.where)

    def expect(self, node: ast.AST, kinds: frozenset[str], evidence: str) -> None:
        """``node``, of unknown type, must be of one of ``kinds``: a field in it whose type
        that settles gets it (its clue is ``evidence``)."""
        static = self.seen.get(id(node))
        if static is None or static.kind is not None:
            return
        if isinstance(node, ast.Name):
            possible = kinds & _DECLARABLE
            if static.field is not None and static.declarable and len(possible) == 1:
                self.clue(static.field, next(iter(possible)), evidence)
        elif isinstance(node, ast.BinOp):
            operands = [
                (node.left, self.seen[id(node.left)]),
                (node.right, self.seen[id(node.right)]),
            ]
            self.narrow(operands, _OPERATOR_TYPES[type(node.op)], kinds, evidence)
        elif isinstance(node, ast.UnaryOp) and not isinstance(node.op, ast.Not):
            self.narrow(
                [(node.operand, self.seen[id(node.operand)])], _UNARY_TYPES, kinds, evidence
            )
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            function = FUNCTIONS[node.func.id]
            if function.gives == "same":
                for index, argument in enumerate(node.args):
                    if function.parameter(index).name == "same":
                        self.expect(argument, kinds, evidence)

    def narrow(
        self,
        operands: Sequence[tuple[ast.AST, _Static]],
        signatures: Iterable[tuple[str, ...]],
        results: frozenset[str] | None,
        evidence: str,
    ) -> list[tuple[str, ...]]:
        """The signatures (operand types, then result type) the operands fit, giving one of
        ``results`` when given; an operand of unknown type is expected to be of the types
        these signatures give it."""
        fitting = [
            signature
            for signature in signatures
            if all(
                _fits(static.kind, wanted)
                for (_, static), wanted in zip(operands, signature, strict=False)
            )
            and (results is None or signature[-1] in results)
        ]
        for index, (operand, static) in enumerate(operands):
            if static.kind is None and fitting:
                wanted = frozenset(signature[index] for signature in fitting)
                self.expect(operand, wanted, evidence)
        return fitting

    def operate(
        self,
        node: ast.AST,
        operands: Sequence[tuple[ast.AST, _Static]],
        signatures: tuple[tuple[str, ...], ...],
        symbol: str,
    ) -> str | None:
        fitting = self.narrow(operands, signatures, None, self.text(node))
        if not fitting:
            parts = " and ".join(static.describe() for _, static in operands)
            usable = ", ".join(
                f"{signature[0]} {symbol} {signature[1]}"
                if len(signature) == 3
                else f"{symbol}{signature[0]}"
                for signature in signatures
            )
            self.problem(
                node,
                f"applies {symbol!r} to {parts}, which do not go together",
                f"{symbol!r} works on {usable}",
            )
            return None
        results = {signature[-1] for signature in fitting}
        return results.pop() if len(results) == 1 else None

    def compare(
        self,
        node: ast.Compare,
        op: ast.cmpop,
        left_node: ast.AST,
        left: _Static,
        right_node: ast.AST,
        right: _Static,
    ) -> None:
        evidence = self.text(node)
        if isinstance(op, (ast.In, ast.NotIn)):
            self.membership(node, left_node, left, right_node, right)
            return
        if left.kind is None and right.kind is not None:
            self.expect(left_node, frozenset({right.kind}), evidence)
            return
        if right.kind is None and left.kind is not None:
            self.expect(right_node, frozenset({left.kind}), evidence)
            return
        if not _comparable(left, right):
            self.mismatch(node, left, right)
            return
        if not isinstance(op, (ast.Eq, ast.NotEq)):
            if "table" in (left.kind, right.kind):
                self.problem(
                    node, "orders tables, which have no order", "compare tables with == or !="
                )
            return
        for one, other in ((left, right), (right, left)):
            self.choose(node, one, other)

    def membership(
        self, node: ast.Compare, item_node: ast.AST, item: _Static, box_node: ast.AST, box: _Static
    ) -> None:
        evidence = self.text(node)
        if box.elements is not None:  # a written list
            kinds = {element.kind for element in box.elements}
            if item.kind is None:
                if None not in kinds:
                    self.expect(item_node, frozenset(kinds), evidence)  # type: ignore[arg-type]
                return
            for element in box.elements:
                if not _comparable(item, element):
                    self.mismatch(node, item, element)
                    return
                self.choose(node, item, element)
            return
        if box.kind is None:
            if item.kind in ("number", "boolean", "date", "datetime", "list"):
                self.expect(box_node, frozenset({"list"}), evidence)
            return
        if box.kind in ("any", "list"):
            return
        if box.kind in ("text", "table"):
            if item.kind is None:
                self.expect(item_node, frozenset({"text"}), evidence)
            elif item.kind not in ("text", "any"):
                fix = f"test for text in {box.text}"
                if box.field is not None and box.declarable:
                    fix += f", or declare {box.text} as list under [fields]"
                self.problem(
                    node,
                    f"tests whether {item.describe()} is in {box.describe()}, "
                    f"which holds only text",
                    fix,
                )
            return
        self.problem(
            node,
            f"tests for an item in {box.describe()}, which has no items",
            "test membership in a list, or in text for a part of it",
        )

    def choose(self, node: ast.AST, one: _Static, other: _Static) -> None:
        """A choice compared with a written value: the value must be one of its values."""
        if not one.choice or other.constant is MISSING or other.constant in one.choice:
            return
        shown = ", ".join(repr(value) for value in one.choice)
        hint = _value_hint(other.constant, one.choice)
        fix = f"use one of {shown}{hint}"
        if one.declarable:
            fix += f", or add {other.constant!r} to the values of {one.text} under [fields]"
        self.problem(
            node,
            f"compares {one.describe()} with {other.text}, which is not one of its values",
            fix,
        )

    def mismatch(self, node: ast.AST, left: _Static, right: _Static) -> None:
        field, other = (left, right) if left.field is not None else (right, left)
        if field.field is not None and field.kind is not None:
            kind = _KIND_WORDS[field.kind]
            example = _KIND_EXAMPLES.get(field.kind)
            fix = f"compare {field.text} with {kind}" + (f" such as {example}" if example else "")
            if field.declarable and other.kind in _DECLARABLE:
                fix += f", or declare {field.text} as {other.kind} under [fields]"
        else:
            fix = "compare values of the same type"
        self.problem(
            node,
            f"compares {left.describe()} with {right.describe()}, values of different types",
            fix,
        )

    def call(self, node: ast.Call) -> _Static:
        assert isinstance(node.func, ast.Name)
        function = FUNCTIONS[node.func.id]
        text = self.text(node)
        same: list[tuple[ast.AST, _Static]] = []
        for index, node_argument in enumerate(node.args):
            argument: ast.AST = node_argument
            static = self.visit(argument)
            kind = function.parameter(index)
            if kind.name == "same":
                same.append((argument, static))
            elif static.kind is None:
                if kind.clue is not None:
                    self.expect(argument, frozenset({kind.clue}), text)
            elif not kind.takes(static.kind):
                takes = kind.words
                fix = f"give {function.name}() {takes}"
                if static.field is not None and static.declarable and kind.clue is not None:
                    fix += f", or declare {static.text} as {kind.clue} under [fields]"
                self.problem(
                    node,
                    f"gives {function.name}() {static.describe()}, "
                    f"but {function.signature} takes {takes}",
                    fix,
                )
        if function.gives != "same":
            return _Static(function.gives, text)
        kinds = {static.kind for _, static in same if static.kind not in (None, "any")}
        if len(kinds) > 1:
            shown = " and ".join(static.describe() for _, static in same if static.kind is not None)
            self.problem(
                node,
                f"gives {function.name}() values of different types: {shown}",
                "give it values of one type",
            )
            return _Static(None, text)
        if not kinds:
            return _Static(None, text)
        shared = kinds.pop()
        for argument, static in same:
            if static.kind is None:
                self.expect(argument, frozenset({shared}), text)
        return _Static(shared, text)


def _comparable(left: _Static, right: _Static) -> bool:
    """Whether ``==`` or ``<`` between values of these types can ever be true."""
    if left.kind is None or right.kind is None or "any" in (left.kind, right.kind):
        return True
    if left.kind == right.kind:
        return True
    for text, moment in ((left, right), (right, left)):
        # Written ISO text compares with a date or a datetime.
        if moment.kind in ("date", "datetime") and isinstance(text.constant, str):
            like = date.min if moment.kind == "date" else datetime.min
            if _parse_moment(text.constant, like=like) is not MISSING:
                return True
    return False


# ------------------------------------------------------------------------------------------
# The public values.


class Condition:
    """A safe expression over lead fields, checked when it is made.

    >>> mql = Condition("score >= 50")
    >>> mql.evaluate({"score": 42})
    False
    >>> print(mql.explain({"score": 42}, label="mql"))
    mql: score >= 50 -> False (score = 42)
    """

    __slots__ = ("_bound", "_tree", "names", "source")

    source: str
    names: frozenset[str]
    _tree: ast.Expression
    _bound: dict[frozenset[str], Callable[[Scope], bool]]

    def __init__(self, source: str, *, field: str = "condition") -> None:
        tree, names = _parse(source, field)
        object.__setattr__(self, "source", source.strip())
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "_tree", tree)
        object.__setattr__(self, "_bound", {})

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Condition is immutable")

    def __reduce__(self) -> tuple[Any, ...]:
        return (Condition, (self.source,))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Condition):
            return NotImplemented
        return self.source == other.source

    def __hash__(self) -> int:
        return hash(("Condition", self.source))

    def __repr__(self) -> str:
        return f"Condition({self.source!r})"

    def __str__(self) -> str:
        return self.source

    @property
    def values_read(self) -> frozenset[str]:
        """The names whose values the condition reads: every name it uses but those it only
        asks the presence of (the field given to ``has`` or ``missing``).

        >>> sorted(Condition("has(email) and lower(name) != 'test' and score > 50").values_read)
        ['name', 'score']
        """
        read: set[str] = set()
        pending: list[ast.AST] = [self._tree]
        while pending:
            node = pending.pop()
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                function = FUNCTIONS.get(node.func.id)
                if function is None or function.takes != ("field",):
                    pending.extend(node.args)  # (the function's own name is not read)
                continue
            if isinstance(node, ast.Name):
                read.add(node.id)
            pending.extend(ast.iter_child_nodes(node))
        return frozenset(read & self.names)

    def compile(self, terms: frozenset[str] = frozenset()) -> Callable[[Scope], bool]:
        """The fast evaluator, with ``terms`` naming the names that are terms; cached."""
        compiled = self._bound.get(terms)
        if compiled is None:
            inner = _Compiler(terms).compile(self._tree)
            if _is_boolean(self._tree.body, terms):
                compiled = inner
            else:

                def compiled(scope: Scope) -> bool:
                    return bool(inner(scope))

            self._bound[terms] = compiled
        return compiled

    def evaluate(
        self,
        fields: Mapping[str, Any],
        *,
        now: datetime | None = None,
        state: str | None = None,
        terms: Terms | None = None,
    ) -> bool:
        """Whether the condition holds for these fields (and terms, time, state)."""
        scope = _scope(fields, now=now, state=state, terms=terms)
        return self.compile(terms.names if terms is not None else frozenset())(scope)

    def explain(
        self,
        fields: Mapping[str, Any],
        *,
        now: datetime | None = None,
        state: str | None = None,
        terms: Terms | None = None,
        label: str | None = None,
    ) -> Explanation:
        """Evaluate with a trace: each part's result and the values it read."""
        scope = _scope(fields, now=now, state=state, terms=terms)
        return self.explain_in(scope, terms, label=label)

    def explain_in(
        self, scope: Scope, terms: Terms | None, *, label: str | None = None
    ) -> Explanation:
        """The explanation for an existing scope (terms must match the scope's)."""
        return Explanation(label, self.trace(scope, terms, label=label))

    def defer(self, scope: Scope, terms: Terms | None, *, label: str | None = None) -> Explanation:
        """An explanation computed only when read; ``scope`` must not change meanwhile."""
        return Explanation.deferred(self, scope, terms, label)

    def trace(self, scope: Scope, terms: Terms | None, *, label: str | None = None) -> Check:
        """The evaluated parts of the condition in ``scope``."""
        known = terms.conditions() if terms is not None else {}
        check = self._tracer(known).run(self._tree, scope)
        if not label:
            return check
        if check.label:
            # The whole condition is a term: keep the term's own line under this label.
            return Check(self.source, check.result, children=(check,), label=label)
        return _with_label(check, label)

    def _tracer(self, terms: Mapping[str, Condition]) -> _Tracer:
        return _Tracer(self.source, terms)

    def field_types(
        self,
        types: Mapping[str, FieldType | TypeClue] = _NO_TYPES,
        *,
        terms: frozenset[str] = frozenset(),
        where: str = "condition",
    ) -> dict[str, TypeClue]:
        """The types the condition gives the fields it reads that ``types`` does not know.

        Comparisons with values of a type, function arguments and arithmetic say what a field
        holds; the first part that says so gives the field its type (``expression``), and
        ``where`` names the condition. A field nothing says anything of is left out.

        >>> condition = Condition("score >= 50 and lower(email) == 'x' and contains(tags, 'v')")
        >>> {name: str(clue.type) for name, clue in condition.field_types().items()}
        {'score': 'number', 'email': 'text'}
        >>> condition.field_types()["score"].expression
        'score >= 50'
        """
        typer = _Typer(self.source, where, types, terms)
        typer.visit(self._tree)
        return typer.clues

    def type_problems(
        self,
        types: Mapping[str, FieldType | TypeClue] = _NO_TYPES,
        *,
        terms: frozenset[str] = frozenset(),
        where: str = "condition",
    ) -> list[Problem]:
        """Parts of the condition whose values can never go together, given the fields'
        ``types`` (declared, or a :class:`TypeClue` from elsewhere) and the types the condition
        itself gives the others: a number compared with text, text given to ``abs``, a value
        that is not one of a choice's.

        >>> score = {"score": FieldType("number")}
        >>> for problem in Condition("score >= 'fifty'").type_problems(score):
        ...     print(problem)
        'condition' compares score (declared number) with 'fifty' (text), values of ...
        """
        typer = _Typer(self.source, where, types, terms)
        typer.visit(self._tree)
        return typer.problems


def _is_boolean(node: ast.AST, terms: frozenset[str]) -> bool:
    """Whether the compiled closure for ``node`` already returns a bool."""
    if isinstance(node, (ast.Compare, ast.BoolOp)):
        return True
    if isinstance(node, ast.UnaryOp):
        return isinstance(node.op, ast.Not)
    if isinstance(node, ast.Name):
        return node.id in terms or node.id in ("true", "false")
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return FUNCTIONS[node.func.id].gives == "boolean"
    return False


def _scope(
    fields: Mapping[str, Any], *, now: datetime | None, state: str | None, terms: Terms | None
) -> Scope:
    evaluators = terms.evaluators() if terms is not None else {}
    return Scope(fields, now, state, None, None, evaluators)


class Explanation:
    """Why a condition held or not: a tree of :class:`Check` parts, readable as text.

    ``str(explanation)`` gives one line per part, indented by depth::

        sql: budget_confirmed and need_months <= 6 -> False
          budget_confirmed -> True (budget_confirmed = True)
          need_months <= 6 -> False (need_months = 9)

    Decisions keep their explanations *deferred*: the trace is computed the first time it is
    read, from the values the decision saw, so keeping one costs almost nothing.
    """

    __slots__ = ("_check", "_condition", "_inputs", "_terms", "label")

    label: str | None

    def __init__(
        self,
        label: str | None,
        check: Check | None = None,
        condition: Condition | None = None,
        inputs: tuple[Any, ...] | None = None,
        terms: Terms | None = None,
    ) -> None:
        self.label = label
        self._check = check
        self._condition = condition
        # What the scope held (fields, now, state, owner, team): a tuple of references is
        # lighter to keep than the Scope itself, which also carries an evaluation cache.
        self._inputs = inputs
        self._terms = terms

    @classmethod
    def deferred(
        cls, condition: Condition, scope: Scope, terms: Terms | None, label: str | None
    ) -> Explanation:
        """An explanation of ``condition`` in ``scope``, traced when first read."""
        return cls(label, None, condition, scope.inputs(), terms)

    @property
    def check(self) -> Check:
        check = self._check
        if check is None:
            assert self._condition is not None
            assert self._inputs is not None
            terms = self._terms
            evaluators = terms.evaluators() if terms is not None else _NO_TERMS
            fields, now, state, owner, team = self._inputs
            scope = Scope(fields, now, state, owner, team, evaluators)
            check = self._check = self._condition.trace(scope, terms, label=self.label)
            self._condition = self._inputs = self._terms = None
        return check

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Explanation):
            return NotImplemented
        return (self.label, self.check) == (other.label, other.check)

    def __hash__(self) -> int:
        return hash((self.label, self.check))

    def __repr__(self) -> str:
        return f"Explanation({self.label!r}, {self.check!r})"

    @property
    def result(self) -> bool:
        return bool(self.check.result)

    def lines(self) -> list[str]:
        lines: list[str] = []

        def walk(check: Check, depth: int) -> None:
            lines.append("  " * depth + check.render())
            for child in check.children:
                if child.label and child.expression == check.expression:
                    continue
                walk(child, depth + 1)

        walk(self.check, 0)
        return lines

    def failing(self) -> list[Check]:
        """The innermost parts that came out false: where a "no" came from."""
        found: list[Check] = []

        def walk(check: Check) -> None:
            if check.note == "not evaluated":
                return
            falsy_children = [
                c for c in check.children if c.note != "not evaluated" and not c.result
            ]
            if not check.result and not falsy_children:
                found.append(check)
            for child in falsy_children:
                walk(child)

        walk(self.check)
        return found

    def __str__(self) -> str:
        return "\n".join(self.lines())


# ------------------------------------------------------------------------------------------
# Terms: the agreed definitions.


def _as_condition(value: str | Condition) -> Condition:
    return value if isinstance(value, Condition) else Condition(value)


@frozen
class Term:
    """A named, agreed qualification definition: ``mql`` means ``score >= 50``.

    >>> Term("mql", "score >= 50", description="Scored at least 50").condition
    Condition('score >= 50')
    """

    name: str
    condition: Condition = field(converter=_as_condition)
    description: str = ""


class Terms:
    """The agreement's terms, checked together: unknown references and cycles are refused.

    A term may use other terms by name (``sql`` may say ``mql and budget_confirmed``).
    """

    __slots__ = ("_by_name", "_evaluators", "names")

    names: frozenset[str]

    def __init__(self, terms: Iterable[Term] = ()) -> None:
        by_name: dict[str, Term] = {}
        problems: list[Problem] = []
        for term in terms:
            where = f"terms.{term.name}"
            if not term.name.isidentifier():
                problems.append(
                    Problem(where, term.name, "is not a usable name", "use letters, digits and _")
                )
            elif (
                term.name in RESERVED_NAMES
                or term.name in _CONSTANT_NAMES
                or term.name in FUNCTIONS
            ):
                problems.append(
                    Problem(where, term.name, "is a reserved name", "choose another name")
                )
            elif term.name.startswith("__"):
                problems.append(
                    Problem(
                        where,
                        term.name,
                        "starts with '__', which names in conditions may not",
                        "choose a name that does not start with '__'",
                    )
                )
            if term.name in by_name:
                problems.append(Problem(where, term.name, "is defined twice", "define it once"))
            by_name[term.name] = term
        problems.extend(_term_cycles(by_name))
        if problems:
            raise ConditionError(*problems)
        self._by_name = by_name
        self.names = frozenset(by_name)
        self._evaluators: dict[str, Callable[[Scope], bool]] = {
            name: term.condition.compile(self.names) for name, term in by_name.items()
        }

    def __iter__(self) -> Any:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its terms (the compiled evaluators are made again)."""
        return (Terms, (tuple(self._by_name.values()),))

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __getitem__(self, name: str) -> Term:
        return self._by_name[name]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Terms):
            return NotImplemented
        return list(self) == list(other)

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"Terms({list(self)!r})"

    def conditions(self) -> dict[str, Condition]:
        return {name: term.condition for name, term in self._by_name.items()}

    def evaluators(self) -> Mapping[str, Callable[[Scope], bool]]:
        return self._evaluators

    def holds(self, name: str, scope: Scope) -> bool:
        """Whether term ``name`` holds in ``scope``."""
        return scope.term(name)

    def explain(self, name: str, scope: Scope) -> Explanation:
        """Why term ``name`` holds or not in ``scope``."""
        return self._by_name[name].condition.explain_in(scope, self, label=name)


def _term_cycles(by_name: Mapping[str, Term]) -> list[Problem]:
    problems: list[Problem] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = [*path[path.index(name) :], name]
            problems.append(
                Problem(
                    f"terms.{name}",
                    " -> ".join(cycle),
                    "refers to itself through other terms",
                    "break the cycle: a term may only use terms defined without it",
                )
            )
            return
        state[name] = 1
        for used in sorted(by_name[name].condition.names & by_name.keys()):
            visit(used, [*path, name])
        state[name] = 2

    for name in by_name:
        visit(name, [])
    return problems
