"""The positional builders make the same records as the classes do."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from types import MappingProxyType

import pytest
from attrs import define, frozen

from leadsla import Lead, ObligationMet, ObligationOpened, OwnerChanged, RuleFired, Transitioned
from leadsla._core.effects import (
    new_obligation_met,
    new_obligation_opened,
    new_owner_changed,
    new_rule_fired,
    new_transitioned,
)
from leadsla._core.fast import builder
from leadsla._core.lead import new_lead

AT = datetime(2026, 3, 2, 9, tzinfo=UTC)
FIELDS = MappingProxyType({"score": 62})


@pytest.mark.parametrize(
    ("cls", "build", "values"),
    [
        (
            Lead,
            new_lead,
            (
                "L-1",
                MappingProxyType({"a": 1}),
                "mql",
                "mql",
                (),
                (),
                frozenset(),
                AT,
                ((AT, "2"),),
            ),
        ),
        (
            Transitioned,
            new_transitioned,
            ("L-1", AT, "lead", "mql", "qualify", "bob", None, "c", ()),
        ),
        (OwnerChanged, new_owner_changed, ("L-1", AT, None, None, "created")),
        (RuleFired, new_rule_fired, ("L-1", AT, "auto-qualify", None)),
        (
            ObligationOpened,
            new_obligation_opened,
            ("L-1", AT, "first-touch", 1, "sales", AT, "enterprise", None),
        ),
        (ObligationMet, new_obligation_met, ("L-1", AT, "first-touch", 1, "call", False, None)),
    ],
)
def test_a_builder_makes_what_the_class_makes(
    cls: type, build: Callable[..., object], values: tuple[object, ...]
) -> None:
    built = build(*values)
    assert type(built) is cls
    assert built == cls(*values)
    assert repr(built) == repr(cls(*values))
    if cls is not Lead:  # a lead's fields are a mapping: it has no hash
        assert hash(built) == hash(cls(*values))


def test_a_builder_takes_every_field() -> None:
    with pytest.raises(TypeError):
        new_owner_changed("L-1", AT, None, None)


def test_only_slotted_attrs_classes_get_a_builder() -> None:
    @define(slots=False)
    class Loose:
        value: int

    with pytest.raises(TypeError, match="not a slotted attrs class"):
        builder(Loose)

    @frozen
    class Tight:
        value: int

    assert builder(Tight)(3) == Tight(3)
