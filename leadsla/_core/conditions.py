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
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any, Final

from attrs import field, frozen

from leadsla._core.duration import Duration
from leadsla._core.errors import ConditionError, DurationError, Problem, did_you_mean

__all__ = [
    "MISSING",
    "Check",
    "Condition",
    "ConditionError",
    "Explanation",
    "Scope",
    "Term",
    "Terms",
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


def _arithmetic(op: Callable[[Any, Any], Any], left: Any, right: Any) -> Any:
    if left is MISSING or right is MISSING:
        return MISSING
    try:
        return op(left, right)
    except (TypeError, ZeroDivisionError, OverflowError, ValueError):
        return MISSING


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


@frozen
class _Function:
    implementation: Callable[..., Any]
    arity: tuple[int, int | None]  # minimum and maximum number of arguments
    signature: str


_FUNCTIONS: Final[dict[str, _Function]] = {
    "lower": _Function(_lower, (1, 1), "lower(text)"),
    "upper": _Function(_upper, (1, 1), "upper(text)"),
    "strip": _Function(_strip, (1, 1), "strip(text)"),
    "len": _Function(_length, (1, 1), "len(value)"),
    "contains": _Function(_contains, (2, 2), "contains(text_or_list, part)"),
    "startswith": _Function(_startswith, (2, 2), "startswith(text, prefix)"),
    "endswith": _Function(_endswith, (2, 2), "endswith(text, suffix)"),
    "domain": _Function(_domain, (1, 1), "domain(email)"),
    "date": _Function(_to_date, (1, 1), "date('2026-03-02') or date(field)"),
    "datetime": _Function(_to_datetime, (1, 1), "datetime('2026-03-02T09:00+02:00')"),
    "coalesce": _Function(_coalesce, (2, None), "coalesce(value, fallback, ...)"),
    "abs": _Function(_absolute, (1, 1), "abs(number)"),
    "min": _Function(_smallest, (1, None), "min(a, b, ...)"),
    "max": _Function(_largest, (1, None), "max(a, b, ...)"),
    # Special forms, compiled by hand below; listed here for arity checks and "did you mean".
    "has": _Function(lambda value: value is not MISSING, (1, 1), "has(field)"),
    "missing": _Function(lambda value: value is MISSING, (1, 1), "missing(field)"),
    "matches": _Function(lambda value, pattern: False, (2, 2), "matches(text, 'regex')"),
    "duration": _Function(lambda text: MISSING, (1, 1), "duration('30 days')"),
    "days_since": _Function(lambda value: MISSING, (1, 1), "days_since(field)"),
}


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
        if isinstance(node, ast.Name) and node.id not in _CONSTANT_NAMES:
            self.names.add(node.id)
        if isinstance(node, ast.Attribute):
            path = _field_path(node)
            if path:
                self.names.add(path[0])
            return
        if isinstance(node, ast.Call):
            self.visit_call(node)
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

    def visit_call(self, node: ast.Call) -> None:
        if not isinstance(node.func, ast.Name):
            self.problem(
                node, "calls a method", "call one of the functions instead, e.g. lower(email)"
            )
            return
        name = node.func.id
        function = _FUNCTIONS.get(name)
        if function is None:
            hint = did_you_mean(name, list(_FUNCTIONS))
            self.problem(
                node,
                f"calls an unknown function {name!r}",
                f"use one of {', '.join(sorted(_FUNCTIONS))}{hint}",
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
        if name in ("has", "missing") and _field_path(node.args[0]) is None:
            self.problem(node, f"{name}() needs a field name", f"write {name}(score) for example")
            return
        if name == "matches":
            pattern = node.args[1]
            if not (isinstance(pattern, ast.Constant) and isinstance(pattern.value, str)):
                self.problem(
                    node,
                    "matches() needs a constant pattern",
                    "write matches(email, '@acme[.]com$')",
                )
                return
            try:
                re.compile(pattern.value)
            except re.error as error:
                self.problem(node, f"has a bad regular expression ({error})", "fix the pattern")
                return
        if name == "duration":
            argument = node.args[0]
            if not (isinstance(argument, ast.Constant) and isinstance(argument.value, str)):
                self.problem(node, "duration() needs constant text", "write duration('30 days')")
                return
            try:
                parsed = Duration.parse(argument.value, field=self.where)
                if parsed.business:
                    raise DurationError(
                        Problem(
                            self.where,
                            argument.value,
                            "uses business time in a condition, which has no calendar",
                            "use calendar time, e.g. duration('30 days'), or an obligation",
                        )
                    )
                _duration_value(parsed)
            except DurationError as error:
                self.problems.extend(error.problems)
                return
        if name in ("date", "datetime"):
            argument = node.args[0]
            if isinstance(argument, ast.Constant):
                converted = (_to_date if name == "date" else _to_datetime)(argument.value)
                if converted is MISSING:
                    self.problem(
                        node,
                        f"gives {name}() text that is not an ISO {name}",
                        f"write {function.signature}",
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
            sign = -1 if isinstance(node.op, ast.USub) else 1
            return lambda scope: _arithmetic(operator.mul, sign, operand(scope))
        if isinstance(node, ast.BinOp):
            left, right = self.compile(node.left), self.compile(node.right)
            arithmetic = _ARITHMETIC[type(node.op)]
            return lambda scope: _arithmetic(arithmetic, left(scope), right(scope))
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
        name = node.func.id
        if name in ("has", "missing"):
            path = _field_path(node.args[0])
            assert path is not None
            present = self.compile(node.args[0])
            if name == "has":
                return lambda scope: present(scope) is not MISSING
            return lambda scope: present(scope) is MISSING
        if name == "matches":
            pattern = re.compile(node.args[1].value)  # type: ignore[attr-defined]
            text = self.compile(node.args[0])
            return lambda scope: _matches(text(scope), pattern)
        if name == "duration":
            constant = _duration_value(Duration.parse(node.args[0].value))  # type: ignore[attr-defined]
            return lambda scope: constant
        if name in ("date", "datetime") and isinstance(node.args[0], ast.Constant):
            converted = _FUNCTIONS[name].implementation(node.args[0].value)
            return lambda scope: converted
        arguments = [self.compile(argument) for argument in node.args]
        if name == "days_since":
            argument = arguments[0]
            return lambda scope: _days_since(argument(scope), scope.now)
        implementation = _FUNCTIONS[name].implementation
        if len(arguments) == 1:
            only = arguments[0]
            return lambda scope: implementation(only(scope))
        if len(arguments) == 2:
            first, second = arguments
            return lambda scope: implementation(first(scope), second(scope))
        return lambda scope: implementation(*[argument(scope) for argument in arguments])


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
            sign = -1 if isinstance(node.op, ast.USub) else 1
            return self.lift(text, _arithmetic(operator.mul, sign, child.result), [child])
        if isinstance(node, ast.BinOp):
            left, right = self.run(node.left, scope), self.run(node.right, scope)
            value = _arithmetic(_ARITHMETIC[type(node.op)], left.result, right.result)
            return self.lift(text, value, [left, right])
        if isinstance(node, ast.Compare):
            return self.comparison(node, scope)
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            items = [self.run(element, scope) for element in node.elts]
            return self.lift(text, tuple(item.result for item in items), items)
        if isinstance(node, ast.Call):
            return self.call(node, scope)
        raise AssertionError(f"unchecked node {node!r}")

    def lift(self, text: str, value: Any, parts: Iterable[Check]) -> Check:
        """A value node: fold the fields its parts read into it, keep nested conditions."""
        values: list[tuple[str, Any]] = []
        children: list[Check] = []
        for part in parts:
            values.extend(part.values)
            if part.children or part.label:
                children.append(part)
        seen: set[str] = set()
        unique = []
        for name, read in values:  # values may be lists or dicts: dedupe by name, not by value
            if name not in seen:
                seen.add(name)
                unique.append((name, read))
        return Check(text, value, values=tuple(unique), children=tuple(children))

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
        name = node.func.id
        text = self.text(node)
        if name == "duration":
            length = _duration_value(Duration.parse(node.args[0].value))  # type: ignore[attr-defined]
            return Check(text, length)
        arguments = [self.run(argument, scope) for argument in node.args]
        results = [argument.result for argument in arguments]
        if name == "has":
            value: Any = results[0] is not MISSING
        elif name == "missing":
            value = results[0] is MISSING
        elif name == "matches":
            value = _matches(results[0], re.compile(results[1]))
        elif name == "days_since":
            value = _days_since(results[0], scope.now)
            arguments.append(Check("now", scope.now, values=(("now", scope.now),)))
        else:
            value = _FUNCTIONS[name].implementation(*results)
        return self.lift(text, value, arguments)


def _with_label(check: Check, label: str) -> Check:
    return Check(check.expression, check.result, check.values, check.children, check.note, label)


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


def _is_boolean(node: ast.AST, terms: frozenset[str]) -> bool:
    """Whether the compiled closure for ``node`` already returns a bool."""
    if isinstance(node, (ast.Compare, ast.BoolOp)):
        return True
    if isinstance(node, ast.UnaryOp):
        return isinstance(node.op, ast.Not)
    if isinstance(node, ast.Name):
        return node.id in terms or node.id in ("true", "false")
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return node.func.id in ("has", "missing", "matches", "startswith", "endswith")
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
                or term.name in _FUNCTIONS
            ):
                problems.append(
                    Problem(where, term.name, "is a reserved name", "choose another name")
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
