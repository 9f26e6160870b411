"""Positional constructors for leadsla's own frozen records, for the engine's hot paths.

An attrs frozen class's ``__init__`` sets each attribute through ``object.__setattr__`` (the
class refuses plain assignment) and runs converters; the engine builds several such records for
every event from values it made and checked itself. :func:`builder` gives a function that takes
every field positionally, in declaration order, and sets the slots directly: the same object,
built in about two thirds of the time. Anything that comes from a user still goes through the
class itself, with its converters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import attrs

__all__ = ["builder", "evolver"]

T = TypeVar("T")


def builder(cls: type[T]) -> Callable[..., T]:
    """A constructor of ``cls`` taking every field of its ``__init__`` positionally, with no
    converters or checks (fields the ``__init__`` does not take get their plain defaults, and
    so may the trailing fields that have one, when left out)."""
    every = attrs.fields(cls)  # type: ignore[arg-type]
    names = [attribute.name for attribute in every if attribute.init]
    # The trailing fields with a plain default may be left out: a field added to a record
    # later takes its default from the builders' callers that do not know of it.
    optional: dict[str, Any] = {}
    for attribute in reversed([a for a in every if a.init]):
        default = attribute.default
        if default is attrs.NOTHING or isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            break
        optional[attribute.name] = default
    if not all(a.name.isidentifier() for a in every) or "__slots__" not in vars(cls):
        raise TypeError(f"{cls.__name__} is not a slotted attrs class")
    twin = _twin(cls)
    if twin is not None:
        return _twin_builder(cls, twin, names, optional)
    namespace: dict[str, Any] = {"new": object.__new__, "cls": cls}
    for number, name in enumerate(names):
        namespace[f"set{number}"] = getattr(cls, name).__set__
    arguments = _arguments(names, optional, namespace)
    body = "".join(f"    set{number}(self, v{number})\n" for number in range(len(names)))
    # Fields the constructor does not take (an effect's origin) get their defaults.
    for number, attribute in enumerate(a for a in every if not a.init):
        namespace[f"fix{number}"] = getattr(cls, attribute.name).__set__
        namespace[f"default{number}"] = attribute.default
        body += f"    fix{number}(self, default{number})\n"
    source = f"def build({arguments}):\n    self = new(cls)\n{body}    return self\n"
    # The source is made of leadsla's own attribute positions, never of user text.
    exec(compile(source, f"<leadsla builder for {cls.__name__}>", "exec"), namespace)
    build: Callable[..., T] = namespace["build"]
    build.__doc__ = f"{cls.__name__} from all its fields, positionally (see leadsla._core.fast)."
    return build


def _twin(cls: type) -> type | None:
    """A plain class that can stand in for ``cls`` while a record is filled in: the same slots,
    but ordinary attribute stores (the interpreter's fastest) where the frozen class refuses
    them. None unless ``cls`` derives from ``object`` directly (a twin of a subclass would
    inherit the frozen ``__setattr__``, and overriding it costs more than it saves) and CPython
    lets a twin become a ``cls`` (it does not when the class has a ``__weakref__`` slot)."""
    if cls.__base__ is not object:
        return None
    twin = type(f"_{cls.__name__}Twin", (), {"__slots__": tuple(vars(cls)["__slots__"])})
    probe: Any = object.__new__(twin)
    try:
        probe.__class__ = cls
    except TypeError:
        return None
    return twin


def _arguments(names: list[str], optional: dict[str, Any], namespace: dict[str, Any]) -> str:
    """A builder's parameters, ``v0, v1, ...``; those of the ``optional`` fields default to
    the fields' defaults (put in ``namespace``)."""
    parameters = []
    for number, name in enumerate(names):
        if name in optional:
            namespace[f"d{number}"] = optional[name]
            parameters.append(f"v{number}=d{number}")
        else:
            parameters.append(f"v{number}")
    return ", ".join(parameters)


def _twin_builder(
    cls: type[T], twin: type, names: list[str], optional: dict[str, Any]
) -> Callable[..., T]:
    """The builder through a twin (see :func:`_twin`): the record is made as a twin, filled
    in by ordinary assignment, then given its real class."""
    namespace: dict[str, Any] = {"new": object.__new__, "twin": twin, "cls": cls}
    arguments = _arguments(names, optional, namespace)
    body = "".join(f"    self.{name} = v{number}\n" for number, name in enumerate(names))
    source = (
        f"def build({arguments}):\n    self = new(twin)\n{body}    self.__class__ = cls\n"
        "    return self\n"
    )
    # The source is made of leadsla's own attribute names, never of user text.
    exec(compile(source, f"<leadsla builder for {cls.__name__}>", "exec"), namespace)
    build: Callable[..., T] = namespace["build"]
    build.__doc__ = f"{cls.__name__} from all its fields, positionally (see leadsla._core.fast)."
    return build


def evolver(cls: type[T], *changed: str) -> Callable[..., T]:
    """For a named tuple ``cls``: a function ``(record, *new values)`` giving a copy of
    ``record`` with the ``changed`` fields (named here, in this order) set to the new values
    and every other field kept. What ``record._replace(**changes)`` does, made once for one set
    of fields, in about a fifth of the time: clocks change at nearly every event."""
    names: tuple[str, ...] = cls._fields  # type: ignore[attr-defined]
    unknown = [name for name in changed if name not in names]
    if unknown or len(set(changed)) != len(changed):
        raise TypeError(f"{cls.__name__} has no fields {unknown} (or one is named twice)")
    arguments = ", ".join(f"v{number}" for number in range(len(changed)))
    values = ", ".join(
        f"v{changed.index(name)}" if name in changed else f"record[{position}]"
        for position, name in enumerate(names)
    )
    source = f"def evolve(record, {arguments}):\n    return new(cls, ({values},))\n"
    namespace: dict[str, Any] = {"new": tuple.__new__, "cls": cls}
    # The source is made of leadsla's own field positions, never of user text.
    exec(compile(source, f"<leadsla evolver for {cls.__name__}>", "exec"), namespace)
    evolve: Callable[..., T] = namespace["evolve"]
    evolve.__doc__ = f"{cls.__name__} with {', '.join(changed)} changed (see leadsla._core.fast)."
    return evolve
