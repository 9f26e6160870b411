"""The per-lead workflow: transitions, guards, rules, ownership and assignment policies."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from leadsla import (
    ActionRequested,
    ActionSkipped,
    AddTag,
    Assign,
    AssignmentPolicy,
    AssignmentRequest,
    Fire,
    FixedOwner,
    InvalidTransition,
    Lead,
    LeastLoaded,
    Lifecycle,
    Notify,
    Owner,
    OwnerChanged,
    OwnershipInterval,
    RemoveTag,
    RoundRobin,
    Rule,
    RuleFired,
    RuleLoopError,
    RuleRouting,
    RuleSet,
    State,
    StrictRoundRobin,
    Tagged,
    Team,
    Transition,
    Transitioned,
    Workflow,
    WorkflowError,
)
from leadsla._core.defaults import default_teams, default_terms
from leadsla._core.ownership import AssignmentBook

HELSINKI = ZoneInfo("Europe/Helsinki")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=HELSINKI)
QUALIFIED = {"email": "a@acme.com", "score": 60, "budget_confirmed": True, "need_months": 3}
PATHS = {  # how to reach each state from a new qualified lead
    "lead": [],
    "mql": ["qualify"],
    "sal": ["qualify", "accept"],
    "sql": ["qualify", "accept", "qualify_sales"],
    "nurture": ["qualify", "nurture"],
    "handback": ["qualify", "reject"],
}


def minutes(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


def bare_workflow() -> Workflow:
    """The default lifecycle, terms and teams, without rules: every move is explicit."""
    return Workflow(lifecycle=Lifecycle.default(), terms=default_terms(), teams=default_teams())


def lead_in(workflow: Workflow, state: str, fields: dict[str, Any] | None = None) -> Lead:
    lead = workflow.create("L-1", fields or QUALIFIED, T0).lead
    for step, trigger in enumerate(PATHS[state], start=1):
        lead = workflow.fire(lead, trigger, minutes(step), by="tester", reason="test").lead
    assert lead.state == state
    return lead


# -- every default transition -----------------------------------------------------------------


DEFAULT_MOVES = [
    (source, transition.trigger, transition.dest)
    for transition in Lifecycle.default().transitions
    for source in transition.sources
]


@pytest.mark.parametrize(("source", "trigger", "dest"), DEFAULT_MOVES)
def test_every_default_transition(source: str, trigger: str, dest: str) -> None:
    """Each transition of the default lifecycle moves the lead and records it."""
    workflow = bare_workflow()
    lead = lead_in(workflow, source)
    at = minutes(30)
    step = workflow.fire(lead, trigger, at, by="alice", reason="because")
    moved = step.lead
    assert moved.state == dest
    last = moved.history[-1]
    assert (last.source, last.dest, last.trigger, last.by, last.reason, last.at) == (
        source,
        dest,
        trigger,
        "alice",
        "because",
        at,
    )
    assert step.effects[0] == last
    assert moved.owner is not None
    assert moved.owner.team == workflow.lifecycle.owner_of(dest)


ILLEGAL = [
    (state, trigger)
    for state in PATHS
    for trigger in Lifecycle.default().triggers
    if Lifecycle.default().find(state, trigger) is None
]


@pytest.mark.parametrize(("state", "trigger"), ILLEGAL)
def test_illegal_transitions_leave_the_record_unchanged(state: str, trigger: str) -> None:
    """A trigger that cannot leave the state raises InvalidTransition; the lead is untouched."""
    workflow = bare_workflow()
    lead = lead_in(workflow, state)
    before = (lead.state, lead.history, lead.ownership, dict(lead.fields))
    with pytest.raises(InvalidTransition) as caught:
        workflow.fire(lead, trigger, minutes(30), reason="r")
    assert (lead.state, lead.history, lead.ownership, dict(lead.fields)) == before
    assert caught.value.state == state
    assert caught.value.trigger == trigger
    assert f"cannot move lead L-1 from {state!r}" in str(caught.value)


def test_terminal_states_refuse_every_trigger() -> None:
    """Nothing leaves won."""
    workflow = bare_workflow()
    won = workflow.fire(lead_in(workflow, "sql"), "win", minutes(10)).lead
    for trigger in workflow.lifecycle.triggers:
        with pytest.raises(InvalidTransition, match="the triggers are: none"):
            workflow.fire(won, trigger, minutes(20), reason="r")


def test_unknown_trigger_gets_a_did_you_mean() -> None:
    """A misspelt trigger is named with the known ones."""
    workflow = bare_workflow()
    with pytest.raises(InvalidTransition, match=r"did you mean 'accept'\?"):
        workflow.fire(lead_in(workflow, "mql"), "acept", minutes(10))


def test_backward_moves_need_a_reason() -> None:
    """reject, nurture, hand_back, requalify, lose and disqualify carry a reason."""
    workflow = bare_workflow()
    lead = lead_in(workflow, "mql")
    with pytest.raises(InvalidTransition) as caught:
        workflow.fire(lead, "reject", minutes(10))
    assert str(caught.value).startswith("'reason' is required to fire 'reject'")


def test_a_guard_that_fails_explains_itself() -> None:
    """qualify_sales needs the sql term: the error shows the failing part and its value."""
    workflow = bare_workflow()
    lead = lead_in(workflow, "sal", {**QUALIFIED, "need_months": 9})
    with pytest.raises(InvalidTransition) as caught:
        workflow.fire(lead, "qualify_sales", minutes(10))
    error = caught.value
    assert "was refused by its guard 'sql'" in str(error)
    assert "need_months <= 6 -> False (need_months = 9)" in str(error)
    assert error.explanation is not None
    assert error.explanation.lines() == [
        "sql: budget_confirmed == true and need_months <= 6 -> False",
        "  budget_confirmed == true -> True (budget_confirmed = True)",
        "  need_months <= 6 -> False (need_months = 9)",
    ]
    assert lead.state == "sal"


def test_a_guarded_move_keeps_the_guard_explanation_in_history() -> None:
    """The history entry of a guarded move says why the guard let it through."""
    workflow = bare_workflow()
    moved = workflow.fire(lead_in(workflow, "sal"), "qualify_sales", minutes(10), by="bob").lead
    because = moved.history[-1].because
    assert because.cause == "requested by bob"
    assert str(because.explanations[0]).startswith("sql: budget_confirmed == true and need_months")


def test_highest_stage_is_kept_across_backward_moves() -> None:
    """A lead that reached sql and went to nurture still remembers sql."""
    workflow = bare_workflow()
    lead = workflow.fire(lead_in(workflow, "sql"), "nurture", minutes(10), reason="later").lead
    assert (lead.state, lead.highest_stage) == ("nurture", "sql")


# -- rules of the default agreement -------------------------------------------------------------


def test_a_lead_whose_mql_term_holds_becomes_an_mql_at_creation() -> None:
    """Auto-qualify: created with score 60, the lead enters mql and a sales rep owns it."""
    step = Workflow.default().create("L-7", {"email": "x@y.fi", "score": 60}, T0)
    assert step.lead.state == "mql"
    assert [type(effect) for effect in step.effects] == [
        Transitioned,
        OwnerChanged,
        RuleFired,
        Transitioned,
        OwnerChanged,
    ]
    assert step.lead.owner is not None
    assert step.lead.owner.team == "sales"
    assert step.lead.owner.person in ("alice", "bob", "carol")


def test_a_lead_becomes_an_mql_when_an_update_makes_the_term_hold() -> None:
    """Auto-qualify on update: score 40 then 55."""
    workflow = Workflow.default()
    lead = workflow.create("L-8", {"email": "x@y.fi", "score": 40}, T0).lead
    assert lead.state == "lead"
    updated = workflow.update(lead, {"score": 55}, minutes(5)).lead
    assert updated.state == "mql"
    assert updated.history[-1].reason == "mql-term-holds"


@pytest.mark.parametrize("state", ["mql", "sal", "sql"])
def test_need_over_six_months_moves_the_lead_to_nurture(state: str) -> None:
    """The default rule need-over-6-months: a lead in mql/sal/sql whose need_months > 6 goes to
    nurture, owner marketing."""
    workflow = Workflow.default()
    lead = workflow.create("L-9", QUALIFIED, T0).lead
    for index, trigger in enumerate(PATHS[state][1:], start=1):
        lead = workflow.fire(lead, trigger, minutes(index), by="bob").lead
    assert lead.state == state
    step = workflow.update(lead, {"need_months": 9}, minutes(20))
    nurtured = step.lead
    assert nurtured.state == "nurture"
    assert nurtured.history[-1].reason == "need-over-6-months"
    assert nurtured.owner == Owner("marketing", "mia")
    fired = [effect for effect in step.effects if isinstance(effect, RuleFired)]
    assert [effect.rule for effect in fired] == ["need-over-6-months"]
    assert str(fired[0].explanation) == (
        "rule need-over-6-months: need_months > 6 -> True (need_months = 9)"
    )


def test_need_of_exactly_six_months_stays_with_sales() -> None:
    """The rule says more than six months: six stays."""
    workflow = Workflow.default()
    lead = workflow.create("L-10", QUALIFIED, T0).lead
    assert workflow.update(lead, {"need_months": 6}, minutes(5)).lead.state == "mql"


def test_rules_cascade_auto_qualify_then_nurture_at_creation() -> None:
    """Created qualified but nine months out: lead -> mql -> nurture, in one step."""
    step = Workflow.default().create("L-11", {**QUALIFIED, "need_months": 9}, T0)
    assert [entry.dest for entry in step.lead.history] == ["lead", "mql", "nurture"]
    assert [effect.rule for effect in step.effects if isinstance(effect, RuleFired)] == [
        "auto-qualify",
        "need-over-6-months",
    ]


def test_nurture_leads_are_not_requalified_automatically() -> None:
    """requalify is a deliberate act by marketing: no rule loops back from nurture."""
    workflow = Workflow.default()
    lead = workflow.create("L-12", {**QUALIFIED, "need_months": 9}, T0).lead
    assert workflow.update(lead, {"need_months": 2}, minutes(5)).lead.state == "nurture"


# -- the rules engine ---------------------------------------------------------------------------


def workflow_with(*rules: Rule, mode: str = "all") -> Workflow:
    return Workflow(
        lifecycle=Lifecycle.default(),
        terms=default_terms(),
        teams=default_teams(),
        rules=RuleSet(rules, mode=mode),  # type: ignore[arg-type]
    )


def test_rules_fire_in_priority_order_and_all_fire_by_default() -> None:
    """Higher priority first; in "all" mode every matching rule fires."""
    workflow = workflow_with(
        Rule("low", when="score > 0", then=AddTag("low"), priority=1),
        Rule("high", when="score > 0", then=AddTag("high"), priority=5),
        Rule("never", when="score < 0", then=AddTag("never")),
    )
    step = workflow.update(workflow.create("L", {"score": 1}, T0).lead, {"score": 2}, minutes(1))
    assert [e.rule for e in step.effects if isinstance(e, RuleFired)] == ["high", "low"]
    assert step.lead.tags == {"high", "low"}


def test_first_mode_fires_only_the_first_matching_rule() -> None:
    """In "first" mode the highest-priority matching rule alone fires."""
    workflow = workflow_with(
        Rule("a", when="score > 0", then=AddTag("a")),
        Rule("b", when="score > 0", then=AddTag("b")),
        mode="first",
    )
    step = workflow.update(workflow.create("L", {}, T0).lead, {"score": 2}, minutes(1))
    assert step.lead.tags == {"a"}


def test_rules_react_only_to_their_event_kinds_and_states() -> None:
    """A rule for updates in mql does not fire at creation or in lead."""
    workflow = workflow_with(
        Rule("on-update", when="score > 0", then=AddTag("x"), on="lead_updated", states="mql")
    )
    lead = workflow.create("L", {"score": 60}, T0).lead
    assert "x" not in lead.tags
    assert "x" not in workflow.update(lead, {"score": 61}, minutes(1)).lead.tags
    in_mql = workflow.fire(lead, "qualify", minutes(2)).lead
    assert "x" not in in_mql.tags
    assert "x" in workflow.update(in_mql, {"score": 62}, minutes(3)).lead.tags


def test_a_rule_action_that_no_longer_applies_is_skipped_and_reported() -> None:
    """Two rules both move the lead: the second finds it moved and reports the skip."""
    workflow = workflow_with(
        Rule("first", when="score > 0", then=Fire("disqualify", "spam"), states="lead"),
        Rule("second", when="score > 0", then=Fire("qualify"), on="lead_updated", priority=-1),
    )
    step = workflow.update(workflow.create("L", {}, T0).lead, {"score": 60}, minutes(1))
    assert step.lead.state == "disqualified"
    skipped = [e for e in step.effects if isinstance(e, ActionSkipped)]
    assert [(e.cause, e.action) for e in skipped] == [("rule second", "fire qualify")]
    assert "cannot move lead L from 'disqualified'" in skipped[0].reason


def test_rules_that_move_a_lead_in_a_loop_are_stopped() -> None:
    """Rules that bounce a lead between states forever raise RuleLoopError."""
    workflow = workflow_with(
        Rule("out", when="true", then=Fire("nurture", "x"), on="transitioned", states="mql"),
        Rule("in", when="true", then=Fire("requalify", "y"), on="transitioned", states="nurture"),
    )
    lead = workflow.create("L", QUALIFIED, T0).lead
    with pytest.raises(RuleLoopError, match="more than 8 times for one event"):
        workflow.fire(lead, "qualify", minutes(1))


def test_assign_notify_and_untag_actions() -> None:
    """Assign gives the lead to a person, Notify asks the host to tell someone, tags come off."""
    workflow = workflow_with(
        Rule("vip", when="vip", then=[Assign("carol"), Notify("manager", "VIP lead")]),
        Rule("cold", when="not vip", then=RemoveTag("hot")),
        Rule("hot", when="vip", then=AddTag("hot"), priority=-1),
    )
    lead = workflow.fire(workflow.create("L", QUALIFIED, T0).lead, "qualify", minutes(1)).lead
    step = workflow.update(lead, {"vip": True}, minutes(2))
    assert step.lead.owner == Owner("sales", "carol")
    requested = [e for e in step.effects if isinstance(e, ActionRequested)]
    assert [(e.action, e.to, e.message) for e in requested] == [("notify", "manager", "VIP lead")]
    assert "hot" in step.lead.tags
    cooled = workflow.update(step.lead, {"vip": False}, minutes(3))
    assert "hot" not in cooled.lead.tags
    assert [e for e in cooled.effects if isinstance(e, Tagged)] == [
        Tagged("L", minutes(3), "hot", removed=True)
    ]


def test_workflow_refuses_parts_that_do_not_fit() -> None:
    """Unknown teams, triggers, states, event kinds and people are all listed at once."""
    with pytest.raises(WorkflowError) as caught:
        Workflow(
            lifecycle=Lifecycle.default(),
            terms=default_terms(),
            teams=[Team("sales", ("alice",))],
            rules=[
                Rule(
                    "r",
                    when="true",
                    then=[Fire("acept"), Assign("zed")],
                    on="updated",
                    states="mqll",
                )
            ],
        )
    fields = [problem.field for problem in caught.value.problems]
    assert fields == [
        "states.lead.owner",
        "states.nurture.owner",
        "states.handback.owner",
        "states.disqualified.owner",
        "rules.r.on",
        "rules.r.states",
        "rules.r.then",
        "rules.r.then",
    ]
    assert "did you mean 'lead_updated'?" in str(caught.value)
    assert "did you mean 'accept'?" in str(caught.value)


# -- ownership ---------------------------------------------------------------------------------


def test_ownership_intervals_are_contiguous_and_name_the_reason() -> None:
    """marketing until qualified, then a rep, then marketing again on nurture."""
    workflow = bare_workflow()
    lead = workflow.create("L-1", QUALIFIED, T0).lead
    lead = workflow.fire(lead, "qualify", minutes(10)).lead
    lead = workflow.fire(lead, "accept", minutes(20), by="rep").lead
    lead = workflow.fire(lead, "nurture", minutes(30), reason="later").lead
    intervals = lead.ownership
    assert [(i.team, i.start, i.end, i.reason) for i in intervals] == [
        ("marketing", T0, minutes(10), "created"),
        ("sales", minutes(10), minutes(30), "qualify: entered mql"),
        ("marketing", minutes(30), None, "nurture: entered nurture"),
    ]
    assert lead.owner_at(minutes(15)) == intervals[1].owner
    assert lead.owner_at(minutes(30)) == intervals[2].owner
    assert lead.owner_at(T0 - timedelta(seconds=1)) is None


def test_assigning_a_person_opens_a_new_interval() -> None:
    """An explicit assignment moves the lead to the person, within their team."""
    workflow = bare_workflow()
    lead = lead_in(workflow, "mql")
    assert lead.owner is not None
    person = next(p for p in ("alice", "bob", "carol") if p != lead.owner.person)
    step = workflow.assign(lead, person, minutes(15), by="sam")
    assert step.lead.owner == Owner("sales", person)
    assert step.effects == (
        OwnerChanged("L-1", minutes(15), lead.owner, Owner("sales", person), "assigned by sam"),
    )
    assert step.lead.ownership[-2].end == step.lead.ownership[-1].start == minutes(15)


# -- assignment policies ------------------------------------------------------------------------

SALES = Team("sales", ("alice", "bob", "carol"))


def request(lead_id: str, **extra: Any) -> AssignmentRequest:
    return AssignmentRequest(lead_id=lead_id, team=SALES, fields={}, state="mql", at=T0, **extra)


def test_round_robin_is_stable_for_a_lead() -> None:
    """The same lead always gets the same person."""
    policy = RoundRobin()
    assert {policy.assign(request("L-42")) for _ in range(5)} == {policy.assign(request("L-42"))}


def test_round_robin_is_the_same_in_another_process() -> None:
    """Assignments do not depend on the process (no randomised hash): partition-safe."""
    here = [RoundRobin().assign(request(f"L-{i}")) for i in range(20)]
    code = (
        "from datetime import datetime, timezone\n"
        "from leadsla import RoundRobin, AssignmentRequest, Team\n"
        "team = Team('sales', ('alice', 'bob', 'carol'))\n"
        "at = datetime(2026, 3, 2, tzinfo=timezone.utc)\n"
        "print(','.join(RoundRobin().assign(AssignmentRequest(lead_id=f'L-{i}', team=team,"
        " fields={}, state='mql', at=at)) for i in range(20)))\n"
    )
    there = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert there.split(",") == here


def test_round_robin_shares_leads_evenly() -> None:
    """Over 3 000 leads each of three reps gets close to a third."""
    counts = Counter(RoundRobin().assign(request(f"lead-{i}")) for i in range(3000))
    assert set(counts) == {"alice", "bob", "carol"}
    assert all(900 <= count <= 1100 for count in counts.values())


def test_strict_round_robin_rotates_in_arrival_order() -> None:
    """With the engine's counter, strict rotation goes alice, bob, carol, alice."""
    workflow = Workflow(
        lifecycle=Lifecycle.default(),
        terms=default_terms(),
        teams=[
            Team("marketing", ("mia",)),
            Team("sales", SALES.members, policy=StrictRoundRobin()),
        ],
    )
    book = AssignmentBook()
    owners = []
    for index in range(4):
        draft = book.draft()
        lead = workflow.create(f"L-{index}", QUALIFIED, T0, book=draft).lead
        owners.append(workflow.fire(lead, "qualify", minutes(1), book=draft).lead.owner)
        book.commit(draft)
    assert [owner.person for owner in owners if owner] == ["alice", "bob", "carol", "alice"]
    assert StrictRoundRobin.partition_safe is False


def test_least_loaded_picks_the_member_with_fewest_open_leads() -> None:
    """Counts passed in decide; the engine's book is used when none are given."""
    assert LeastLoaded({"alice": 5, "bob": 1, "carol": 3}).assign(request("L")) == "bob"
    assert LeastLoaded().assign(request("L", loads={"alice": 0, "bob": 2, "carol": 2})) == "alice"


def test_rule_routing_takes_the_first_matching_route_else_the_fallback() -> None:
    """Routing rules are ordered; the fallback handles the rest."""
    policy = RuleRouting(
        [("country == 'FI'", "alice"), ("country in ['FI', 'SE']", "bob")],
        fallback=FixedOwner("carol"),
    )

    def pick(country: str) -> str | None:
        return policy.assign(
            AssignmentRequest(
                lead_id="L", team=SALES, fields={"country": country}, state="mql", at=T0
            )
        )

    assert (pick("FI"), pick("SE"), pick("US")) == ("alice", "bob", "carol")
    assert policy.partition_safe


def test_a_custom_policy_is_a_subclass() -> None:
    """Integrators subclass AssignmentPolicy; the workflow uses it when the team says so."""

    class ByScore(AssignmentPolicy):
        def assign(self, request: AssignmentRequest) -> str | None:
            return "alice" if request.fields.get("score", 0) >= 80 else "bob"

    workflow = Workflow(
        lifecycle=Lifecycle.default(),
        terms=default_terms(),
        teams=[Team("marketing", ("mia",)), Team("sales", SALES.members, policy=ByScore())],
    )
    hot = workflow.fire(workflow.create("H", {**QUALIFIED, "score": 90}, T0).lead, "qualify", T0)
    warm = workflow.fire(workflow.create("W", QUALIFIED, T0).lead, "qualify", T0)
    assert (hot.lead.owner, warm.lead.owner) == (Owner("sales", "alice"), Owner("sales", "bob"))


def test_custom_lifecycles_work_the_same_way() -> None:
    """A two-state lifecycle with its own teams and a guard."""
    lifecycle = Lifecycle(
        states=[State("inbox", "sdr"), State("done", "ae", terminal=True)],
        transitions=[Transition("book_meeting", "inbox", "done", guard="has(meeting_at)")],
        initial="inbox",
    )
    workflow = Workflow(lifecycle=lifecycle, teams=[Team("sdr", "sam"), Team("ae", "ann")])
    lead = workflow.create("X", {}, T0).lead
    with pytest.raises(InvalidTransition, match=r"has\(meeting_at\) -> False"):
        workflow.fire(lead, "book_meeting", minutes(1))
    done = workflow.fire(
        workflow.update(lead, {"meeting_at": "2026-03-03"}, minutes(2)).lead,
        "book_meeting",
        minutes(3),
    )
    assert done.lead.owner == Owner("ae", "ann")


def test_naive_times_are_refused() -> None:
    """Every step needs a timezone-aware time."""
    from leadsla import NaiveDatetimeError

    workflow = bare_workflow()
    with pytest.raises(NaiveDatetimeError, match="'at' must be timezone-aware"):
        workflow.create("L", {}, datetime(2026, 3, 2, 9))


# -- regressions ------------------------------------------------------------------------------


def test_a_guard_over_a_list_field_refuses_cleanly() -> None:
    """A failing guard that reads a list raises InvalidTransition with its explanation."""
    lifecycle = Lifecycle(
        states=[State("a", "t"), State("b", "t", terminal=True)],
        transitions=[Transition("go", "a", "b", guard="contains(tags, 'vip')")],
        initial="a",
    )
    workflow = Workflow(lifecycle=lifecycle)
    lead = workflow.create("L", {"tags": ["new"]}, T0).lead
    with pytest.raises(InvalidTransition, match=r"tags = \['new'\]"):
        workflow.fire(lead, "go", minutes(1))


def test_routing_can_use_terms_when_a_lead_enters_a_state() -> None:
    """RuleRouting by a term name works on a move, not only on an explicit reassignment."""
    sales = Team(
        "sales", ("alice", "carol"), policy=RuleRouting([("sql", "carol")], fallback="alice")
    )
    workflow = Workflow(
        lifecycle=Lifecycle.default(),
        terms=default_terms(),
        teams=[Team("marketing", ("mia",)), sales],
    )
    lead = workflow.create("L", QUALIFIED, T0).lead
    assert workflow.fire(lead, "qualify", minutes(1)).lead.owner == Owner("sales", "carol")


def test_loads_after_a_lead_closes_in_another_teams_state() -> None:
    """Disqualifying an MQL hands it to marketing and closes it: nobody's load grows."""
    workflow = Workflow(
        lifecycle=Lifecycle.default(),
        terms=default_terms(),
        teams=[Team("marketing", ("mia",)), Team("sales", ("carol",))],
    )
    book = AssignmentBook()
    draft = book.draft()
    lead = workflow.create("L", QUALIFIED, T0, book=draft).lead
    lead = workflow.fire(lead, "qualify", minutes(1), book=draft).lead
    assert draft.loads == {"mia": 0, "carol": 1}
    workflow.fire(lead, "disqualify", minutes(2), reason="spam", book=draft)
    assert draft.loads == {"mia": 0, "carol": 0}
    assert book.loads == {}, "the workflow records changes; only a commit writes the book"


def test_assigning_someone_outside_the_owning_team_is_refused() -> None:
    """An MQL belongs to sales: it cannot be given to mia of marketing, nor to a stranger."""
    workflow = bare_workflow()
    lead = lead_in(workflow, "mql")
    for person in ("mia", "zed"):
        with pytest.raises(WorkflowError, match="which owns leads in 'mql'"):
            workflow.assign(lead, person, minutes(5))
    assert workflow.assign(lead, "sam", minutes(5)).lead.owner == Owner("sales", "sam")


def test_ownership_intervals_compare_instants_in_the_repeated_autumn_hour() -> None:
    """On 2026-10-25 Helsinki's clocks go from 04:00 back to 03:00: 03:45 (first pass) is an
    earlier instant than 03:30 (second pass), though its wall clock is later."""
    helsinki = ZoneInfo("Europe/Helsinki")
    first_pass = datetime(2026, 10, 25, 3, 45, tzinfo=helsinki)
    second_pass = datetime(2026, 10, 25, 3, 30, fold=1, tzinfo=helsinki)
    assert first_pass > second_pass  # by wall clock
    assert first_pass.timestamp() < second_pass.timestamp()  # by instant
    later = OwnershipInterval(Owner("sales", "carol"), second_pass, None, "reassigned")
    assert not later.covers(first_pass)
    earlier = OwnershipInterval(
        Owner("sales", "bob"), first_pass - timedelta(hours=2), second_pass, ""
    )
    assert earlier.covers(first_pass)


def test_same_instant_tells_the_autumn_passes_apart_and_matches_across_zones() -> None:
    from leadsla._core.workflow import _same_instant

    helsinki = ZoneInfo("Europe/Helsinki")
    first = datetime(2026, 10, 25, 3, 30, tzinfo=helsinki)
    second = datetime(2026, 10, 25, 3, 30, fold=1, tzinfo=helsinki)
    assert first == second  # by wall clock
    assert not _same_instant(first, second)
    assert _same_instant(first, first.astimezone(ZoneInfo("UTC")))
    assert not _same_instant(first, first + timedelta(minutes=1))
