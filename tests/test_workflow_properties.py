"""Any sequence of triggers, field updates and assignments keeps a lead consistent."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from leadsla import InvalidTransition, Lead, Workflow
from leadsla._core.ownership import AssignmentBook, BookDraft

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("Europe/Helsinki"))
WORKFLOW = Workflow.default()
LIFECYCLE = WORKFLOW.lifecycle
TEAM_MEMBERS = {team.name: team.members for team in WORKFLOW.teams}
BOOK = AssignmentBook()  # never committed to: each step's draft records what it would change

field_updates = st.fixed_dictionaries(
    {},
    optional={
        "score": st.one_of(st.none(), st.integers(0, 100)),
        "need_months": st.one_of(st.none(), st.integers(0, 12)),
        "budget_confirmed": st.one_of(st.none(), st.booleans(), st.just(True)),
        "email": st.sampled_from(["a@b.fi", None]),
    },
)
operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("fire"),
            st.sampled_from(LIFECYCLE.triggers),
            st.sampled_from([None, "a-reason"]),
        ),
        # Mostly a trigger that can leave the current state (chosen when applied), so
        # sequences travel the whole lifecycle rather than bounce off refusals.
        st.tuples(st.just("legal"), st.integers(0, 20), st.sampled_from([None, "a-reason"])),
        st.tuples(st.just("legal"), st.integers(0, 20), st.just("a-reason")),
        st.tuples(
            st.just("update"),
            st.just({"score": 70, "budget_confirmed": True, "need_months": 2}),
        ),
        st.tuples(st.just("update"), field_updates),
        st.tuples(st.just("assign"), st.integers(0, 5)),
        st.tuples(st.just("activity")),
    ),
    max_size=25,
)


def apply(lead: Lead, operation: tuple[Any, ...], at: datetime, book: BookDraft) -> Lead:
    kind = operation[0]
    if kind == "legal":
        choices = list(LIFECYCLE.transitions_from(lead.state))
        onward = [t for t in choices if not LIFECYCLE.state(t.dest).terminal]
        # Terminal moves end a sequence: take them only one time in five.
        if onward and operation[1] % 5:
            choices = onward
        if not choices:
            return lead
        trigger = choices[operation[1] % len(choices)].trigger
        return WORKFLOW.fire(lead, trigger, at, by="someone", reason=operation[2], book=book).lead
    if kind == "fire":
        return WORKFLOW.fire(
            lead, operation[1], at, by="someone", reason=operation[2], book=book
        ).lead
    if kind == "update":
        return WORKFLOW.update(lead, operation[1], at, book=book).lead
    if kind == "assign":
        assert lead.owner is not None
        members = TEAM_MEMBERS[lead.owner.team]
        person = None if operation[1] >= len(members) else members[operation[1]]
        return WORKFLOW.assign(lead, person, at, book=book).lead
    return WORKFLOW.activity(lead, at, book=book).lead


def check_consistent(lead: Lead) -> None:
    # Exactly one valid state, and the history ends there.
    assert lead.state in LIFECYCLE.state_names
    history = lead.history
    assert history[0].source is None
    assert history[0].dest == LIFECYCLE.initial
    assert history[-1].dest == lead.state
    for previous, entry in itertools.pairwise(history):
        assert entry.source == previous.dest
        assert entry.at >= previous.at
        transition = LIFECYCLE.find(entry.source, entry.trigger or "")
        assert transition is not None
        assert transition.dest == entry.dest
    # The highest stage is the highest stage of any state visited.
    staged = [LIFECYCLE.state(entry.dest) for entry in history]
    ranked = [state for state in staged if state.stage is not None]
    assert lead.highest_stage == max(ranked, key=lambda s: s.stage or 0).name
    # Ownership: contiguous, non-overlapping, non-empty intervals, the last one open.
    ownership = lead.ownership
    assert ownership
    assert ownership[0].start == history[0].at
    for earlier, later in itertools.pairwise(ownership):
        assert earlier.end == later.start
        assert earlier.start < earlier.end
    assert ownership[-1].end is None
    assert lead.owner is not None
    assert lead.owner.team == LIFECYCLE.owner_of(lead.state)


def check_refusal(
    lead: Lead, operation: tuple[Any, ...], at: datetime, refused: InvalidTransition
) -> str:
    """A refused trigger is refused for a reason the lifecycle gives, and changes nothing;
    returns which reason."""
    assert (refused.lead, refused.state) == (lead.id, lead.state)
    transition = LIFECYCLE.find(lead.state, refused.trigger)
    if transition is None:
        why = "no such move"
        assert refused.field == "trigger"
    elif refused.explanation is not None:
        why = "guard"
        assert transition.guard is not None
        assert not refused.explanation.result
    else:
        why = "reason"
        assert transition.requires_reason
        assert refused.field == "reason"
    # The same input on the same lead is refused again, with the same words, and the step
    # recorded nothing in the assignment book: a refused input changes nothing.
    again = BOOK.draft()
    with pytest.raises(InvalidTransition) as second:
        apply(lead, operation, at, again)
    assert str(second.value) == str(refused)
    assert (again.given, again.load_changes) == ({}, {})
    return why


def run(initial_fields: dict[str, Any], steps: list[tuple[Any, ...]], gaps: list[int]) -> set[str]:
    """Apply the steps, checking the lead after each; returns the ways triggers were refused."""
    refusals: set[str] = set()
    lead = WORKFLOW.create("L-1", initial_fields, T0).lead
    check_consistent(lead)
    at = T0
    for operation, gap in zip(steps, gaps, strict=False):
        at = at + timedelta(minutes=gap)
        draft = BOOK.draft()
        try:
            lead = apply(lead, operation, at, draft)
        except InvalidTransition as refused:
            assert (draft.given, draft.load_changes) == ({}, {})
            refusals.add(check_refusal(lead, operation, at, refused))
        check_consistent(lead)
    return refusals


# From a lead of score 10, each way a trigger can be refused: a move its state does not have,
# a guard that does not hold, a backward move without its reason.
REFUSALS: list[tuple[Any, ...]] = [
    ("fire", "win", None),
    ("fire", "qualify", None),
    ("update", {"score": 70}),  # the default rules make it an MQL
    ("fire", "reject", None),
]


def test_the_pinned_example_reaches_every_kind_of_refusal() -> None:
    """The example the property always runs refuses a trigger in each of the three ways."""
    assert run({"score": 10}, REFUSALS, [5] * 25) == {"no such move", "guard", "reason"}


@given(
    initial_fields=field_updates,
    steps=operations,
    gaps=st.lists(st.integers(0, 600), min_size=25, max_size=25),
)
@example(initial_fields={"score": 10}, steps=REFUSALS, gaps=[5] * 25)
def test_any_sequence_keeps_the_lead_consistent(
    initial_fields: dict[str, Any], steps: list[tuple[Any, ...]], gaps: list[int]
) -> None:
    """One valid state, a history that chains, contiguous ownership, owner team = state's."""
    for refusal in run(initial_fields, steps, gaps):
        event(f"refused: {refusal}")


@pytest.mark.slow
@settings(max_examples=1500)
@given(
    initial_fields=field_updates,
    steps=operations,
    gaps=st.lists(st.integers(0, 600), min_size=25, max_size=25),
)
def test_any_sequence_keeps_the_lead_consistent_long_run(
    initial_fields: dict[str, Any], steps: list[tuple[Any, ...]], gaps: list[int]
) -> None:
    """The same property over many more sequences."""
    run(initial_fields, steps, gaps)
