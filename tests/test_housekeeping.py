"""Housekeeping events: a lead converted, merged into another, or erased (a GDPR request)."""

from __future__ import annotations

import io
import json
import sqlite3
import tempfile
import zlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadsla import (
    ActivityLogged,
    Agreement,
    AgreementError,
    Converted,
    Effect,
    Engine,
    Erased,
    Event,
    EventError,
    LeadConverted,
    LeadCreated,
    LeadErased,
    LeadMerged,
    LeadUpdated,
    LeadView,
    LeastLoaded,
    Merged,
    ObligationCancelled,
    ObligationMet,
    ObligationSpec,
    PostgresStore,
    Rejected,
    Retracted,
    SqliteStore,
    Team,
    Term,
    TransitionRequested,
    When,
    agreement_to_toml,
    effect_to_dict,
    render_scorecard,
    scorecard,
)
from leadsla._shell.cli import main
from leadsla.testing import event_streams

HELSINKI = ZoneInfo("Europe/Helsinki")
DEFAULT = Agreement.default()
EMAIL = "ann.virtanen@acme.fi"
ANN: dict[str, Any] = {"email": EMAIL, "name": "Ann Virtanen", "score": 62, "country": "FI"}


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=HELSINKI)


def created(lead: str = "L-1", when: datetime | None = None, **fields: object) -> LeadCreated:
    return LeadCreated(id=f"c-{lead}", lead=lead, at=when or at(2, 9), fields=fields or ANN)


def kinds(effects: Sequence[Effect]) -> list[str]:
    return [type(effect).__name__ for effect in effects]


def mql(engine: Engine | None = None, lead: str = "L-1") -> Engine:
    """An engine with an MQL created Monday 09:00: first touch due 13:00."""
    engine = Engine() if engine is None else engine  # (an engine without leads is falsy)
    engine.apply(created(lead))
    return engine


# -- the events ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "event"),
    [
        (
            '{"id": "x", "type": "convert", "lead": "L-1", "at": "2026-03-02T10:00:00+02:00", '
            '"to": "contact", "by": "bob"}',
            LeadConverted(id="x", lead="L-1", at=at(2, 10), to="contact", by="bob"),
        ),
        (
            '{"id": "x", "type": "merge", "lead": "L-2", "at": "2026-03-02T10:00:00+02:00", '
            '"into": "L-1", "by": null}',
            LeadMerged(id="x", lead="L-2", at=at(2, 10), into="L-1"),
        ),
        (
            '{"id": "x", "type": "erase", "lead": "L-1", "at": "2026-03-02T10:00:00+02:00", '
            '"by": "dpo"}',
            LeadErased(id="x", lead="L-1", at=at(2, 10), by="dpo"),
        ),
    ],
    ids=["convert", "merge", "erase"],
)
def test_housekeeping_events_read_and_write_their_json(line: str, event: Event) -> None:
    assert Event.from_json(line) == event
    assert Event.from_json(event.to_json()) == event


def test_a_conversion_is_to_an_opportunity_unless_said() -> None:
    line = '{"id": "x", "type": "convert", "lead": "L-1", "at": "2026-03-02T10:00:00Z"}'
    assert Event.from_json(line) == LeadConverted(
        id="x", lead="L-1", at=datetime.fromisoformat("2026-03-02T10:00:00Z")
    )


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ('"type": "merge", "into": "L-1"', "'into' is the lead itself"),
        ('"type": "merge"', "'into' is missing"),
        ('"type": "convert", "to": null', "'to' must be a non-empty string"),
        ('"type": "convert", "to": ""', "'to' must be a non-empty string"),
        ('"type": "erase", "fields": {}', "'fields' is not a key of an erase event"),
    ],
)
def test_bad_housekeeping_lines_are_refused(line: str, said: str) -> None:
    with pytest.raises(EventError, match=said):
        Event.from_json(
            '{"id": "x", "lead": "L-1", "at": "2026-03-02T10:00:00+02:00", ' + line + "}"
        )


def test_a_lead_cannot_be_merged_into_itself() -> None:
    with pytest.raises(EventError, match="cannot be merged into itself"):
        LeadMerged(id="x", lead="L-1", at=at(2, 10), into="L-1")


# -- conversion --------------------------------------------------------------------------------


def test_a_conversion_closes_the_open_clocks() -> None:
    """Converted at 10:00: the lead leaves the lifecycle, in its state; its three clocks are
    cancelled, saying why."""
    engine = mql()
    effects = engine.apply(LeadConverted(id="v", lead="L-1", at=at(2, 10), by="bob"))
    assert kinds(effects) == ["Converted", *["ObligationCancelled"] * 3]
    assert effects[0] == Converted("L-1", at(2, 10), "opportunity", "bob")
    assert {e.reason for e in effects if isinstance(e, ObligationCancelled)} == {
        "converted to opportunity"
    }
    view = engine.lead("L-1")
    assert (view.state, view.lead.converted_to, view.open_obligations) == ("mql", "opportunity", ())
    assert engine.due(at(30, 9)) == []


def test_a_breach_stays_a_breach_after_a_conversion() -> None:
    engine = mql()
    engine.advance(at(2, 14))  # first touch breached at 13:00
    engine.apply(LeadConverted(id="v", lead="L-1", at=at(2, 15)))
    touch = engine.lead("L-1").obligation("first-touch")
    assert touch is not None
    assert (touch.status, touch.breached_at) == ("breached", at(2, 13))
    [card] = scorecard(engine)
    assert {s.obligation: s.breached for s in card.obligations}["first-touch"] == 1


def test_an_obligation_may_say_a_conversion_meets_it() -> None:
    """'accept-or-reject' met by a conversion (the lead went straight to an opportunity);
    'first-touch' cancelled by one; 'attempts', silent on it, cancelled as any open clock."""
    specs = [
        attrs.evolve(spec, met=When(states=("sal", "handback"), events="lead_converted"))
        if spec.name == "accept-or-reject"
        else attrs.evolve(spec, cancelled=When(events="lead_converted"))
        if spec.name == "first-touch"
        else spec
        for spec in DEFAULT.obligations
    ]
    engine = mql(Engine(attrs.evolve(DEFAULT, obligations=specs)))
    effects = engine.apply(LeadConverted(id="v", lead="L-1", at=at(2, 10)))
    said = {
        e.obligation: (type(e).__name__, getattr(e, "outcome", None) or getattr(e, "reason", ""))
        for e in effects
        if isinstance(e, (ObligationMet, ObligationCancelled))
    }
    assert said == {
        "first-touch": ("ObligationCancelled", "lead converted"),
        "accept-or-reject": ("ObligationMet", "lead converted"),
        "attempts": ("ObligationCancelled", "converted to opportunity"),
    }


def test_a_conversion_met_after_the_deadline_is_met_late() -> None:
    specs = [
        attrs.evolve(spec, met=When(events="lead_converted"))
        if spec.name == "accept-or-reject"
        else spec
        for spec in DEFAULT.obligations
    ]
    engine = mql(Engine(attrs.evolve(DEFAULT, obligations=specs)))
    engine.advance(at(3, 12))  # accept-or-reject due Monday 17:00
    engine.apply(LeadConverted(id="v", lead="L-1", at=at(3, 12)))
    clock = engine.lead("L-1").obligation("accept-or-reject")
    assert clock is not None
    assert (clock.status, clock.breached_at) == ("met_late", at(2, 17))


def test_an_obligation_naming_an_unknown_event_kind_lists_lead_converted() -> None:
    spec = ObligationSpec(
        name="x",
        party="sales",
        starts=When(states="mql"),
        met=When(events="converted"),
        within="1 business day",
        calendar="office",
    )
    with pytest.raises(AgreementError, match="lead_converted"):
        attrs.evolve(DEFAULT, obligations=(*DEFAULT.obligations, spec))


@pytest.mark.parametrize(
    "event",
    [
        ActivityLogged(id="x", lead="L-1", at=at(2, 11), kind="call", by="bob"),
        TransitionRequested(id="x", lead="L-1", at=at(2, 11), trigger="accept", by="bob"),
        LeadUpdated(id="x", lead="L-1", at=at(2, 11), fields={"score": 90}),
        LeadConverted(id="x", lead="L-1", at=at(2, 11)),
        LeadMerged(id="x", lead="L-1", at=at(2, 11), into="L-2"),
        LeadCreated(id="x", lead="L-1", at=at(2, 11), fields=ANN),
    ],
    ids=lambda event: event.type,
)
def test_a_converted_lead_takes_no_more_events_but_an_erasure(event: Event) -> None:
    engine = mql()
    engine.apply(LeadConverted(id="v", lead="L-1", at=at(2, 10)))
    before = engine.lead("L-1")
    [refused] = engine.apply(event)
    assert isinstance(refused, Rejected)
    assert engine.lead("L-1") == before
    if type(event) is not LeadCreated:
        assert "names a lead converted to opportunity" in refused.reason
        assert "only erase applies to this one" in refused.reason
    assert kinds(engine.apply(LeadErased(id="e", lead="L-1", at=at(2, 12)))) == ["Erased"]


def test_a_won_lead_may_be_converted() -> None:
    engine = mql()
    for number, trigger in enumerate(("accept", "qualify_sales", "win")):
        engine.apply(LeadUpdated(id="u", lead="L-1", at=at(2, 9, 30), fields={"need_months": 3}))
        engine.apply(
            LeadUpdated(id="b", lead="L-1", at=at(2, 9, 30), fields={"budget_confirmed": True})
        )
        engine.apply(
            TransitionRequested(
                id=f"t{number}", lead="L-1", at=at(2, 10), trigger=trigger, by="bob"
            )
        )
    assert engine.lead("L-1").state == "won"
    assert kinds(engine.apply(LeadConverted(id="v", lead="L-1", at=at(2, 11)))) == ["Converted"]


def test_a_closed_lead_no_longer_weighs_on_its_owner() -> None:
    """Least loaded: one rep had L-1; converted, it no longer counts, so a lead whose tie
    goes to that rep goes to them (were L-1 still counted, to the other)."""
    agreement = attrs.evolve(
        DEFAULT,
        teams=(
            Team("marketing", ("mia",)),
            Team("sales", ("alice", "bob"), manager="sam", policy=LeastLoaded()),
        ),
    )
    engine = mql(Engine(agreement))
    owner = engine.lead("L-1").owner
    assert owner is not None
    assert owner.person is not None
    first, other = owner.person, ({"alice", "bob"} - {owner.person}).pop()

    def tie(person: str, lead: str) -> int:  # how LeastLoaded breaks a tie
        return zlib.crc32(f"{person}\x00{lead}".encode())

    lead = next(f"L-{n}" for n in range(2, 99) if tie(first, f"L-{n}") < tie(other, f"L-{n}"))
    engine.apply(LeadConverted(id="v", lead="L-1", at=at(2, 10)))
    engine.apply(created(lead, at(2, 11)))
    assert engine.lead(lead).owner == owner


# -- merge ---------------------------------------------------------------------------------------


def two_records() -> Engine:
    """L-1 (MQL since Monday 09:00) and its duplicate L-2 (Monday 10:00), merged into L-1 at
    14:00, after L-2's first touch breached at 14:00... at 13:00 for L-1."""
    engine = mql()
    engine.apply(created("L-2", at(2, 10), **{**ANN, "email": "ann@home.fi"}))
    engine.advance(at(2, 14, 30))  # both first touches breached (13:00 and 14:00)
    engine.apply(LeadMerged(id="m", lead="L-2", at=at(2, 14, 30), into="L-1", by="mia"))
    return engine


def test_a_merge_closes_the_absorbed_lead_only() -> None:
    engine = mql()
    engine.apply(created("L-2", at(2, 10)))
    effects = engine.apply(LeadMerged(id="m", lead="L-2", at=at(2, 11), into="L-1"))
    assert kinds(effects) == ["Merged", *["ObligationCancelled"] * 3]
    assert effects[0] == Merged("L-2", at(2, 11), "L-1")
    assert {e.reason for e in effects if isinstance(e, ObligationCancelled)} == {"merged into L-1"}
    assert all(effect.lead == "L-2" for effect in effects)
    survivor = engine.lead("L-1")
    assert len(survivor.open_obligations) == 3  # the survivor's own clocks run on
    assert engine.lead("L-2").lead.merged_into == "L-1"


def test_breaches_stay_on_the_absorbed_record_and_count() -> None:
    engine = two_records()
    absorbed = engine.lead("L-2").obligation("first-touch")
    assert absorbed is not None
    assert absorbed.status == "breached"
    [card] = scorecard(engine)
    assert {s.obligation: s.breached for s in card.obligations}["first-touch"] == 2


def test_the_survivors_view_joins_the_absorbed_records_history() -> None:
    engine = two_records()
    view = engine.lead("L-1")
    assert [merged.lead.id for merged in view.merged] == ["L-2"]
    assert [(move.lead, move.dest, move.at) for move in view.history] == [
        ("L-1", "lead", at(2, 9)),
        ("L-1", "mql", at(2, 9)),
        ("L-2", "lead", at(2, 10)),
        ("L-2", "mql", at(2, 10)),
    ]
    assert view.lead.history == view.history[:2]  # the record itself is its own
    assert view == LeadView(view.lead, view.obligations)  # the join is a view, not state


def test_merges_chain_and_a_loop_is_shown_once() -> None:
    engine = two_records()
    engine.apply(created("L-3", at(2, 15)))
    engine.apply(LeadMerged(id="m2", lead="L-1", at=at(2, 16), into="L-3"))
    view = engine.lead("L-3")
    assert [m.lead.id for m in view.merged] == ["L-1"]
    assert [m.lead.id for m in view.merged[0].merged] == ["L-2"]
    assert {move.lead for move in view.history} == {"L-1", "L-2", "L-3"}
    engine.apply(LeadMerged(id="m3", lead="L-3", at=at(2, 17), into="L-2"))  # a loop
    assert {move.lead for move in engine.lead("L-2").history} == {"L-1", "L-2", "L-3"}


def test_a_merge_into_a_lead_not_known_is_taken() -> None:
    """The survivor may live in another partition of the log, or arrive later: the merge is
    the absorbed record's own event. When the survivor comes, its view joins the record."""
    engine = mql()
    assert kinds(engine.apply(LeadMerged(id="m", lead="L-1", at=at(2, 10), into="L-9"))) == [
        "Merged",
        *["ObligationCancelled"] * 3,
    ]
    engine.apply(created("L-9", at(2, 11)))
    assert [m.lead.id for m in engine.lead("L-9").merged] == ["L-1"]


def test_the_lead_command_tells_the_joined_story() -> None:
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "events.jsonl"
        events = [
            created("L-1"),
            created("L-2", at(2, 10), **{**ANN, "email": "ann@home.fi"}),
            LeadMerged(id="m", lead="L-2", at=at(2, 11), into="L-1"),
        ]
        log.write_text("".join(event.to_json() + "\n" for event in events), encoding="utf-8")
        out = io.StringIO()
        assert main(["lead", str(log), "L-1"], out) == 0
        story = out.getvalue()
        assert "Merged into it: L-2 (their moves below, marked)" in story
        assert "[L-2] created in lead" in story
        out = io.StringIO()
        assert main(["lead", str(log), "L-2"], out) == 0
        assert "Merged into L-1 Mon 2026-03-02 11:00: left the lifecycle" in out.getvalue()


# -- erasure ---------------------------------------------------------------------------------


def test_an_erasure_erases_the_personal_fields_and_closes_the_lead() -> None:
    """The values go; states, clocks, tallies stay; the open clocks close."""
    engine = mql()
    volumes = engine.volumes()
    effects = engine.apply(LeadErased(id="x", lead="L-1", at=at(2, 10), by="dpo"))
    assert effects[0] == Erased("L-1", at(2, 10), ("email", "name"), "dpo")
    assert kinds(effects[1:]) == ["ObligationCancelled"] * 3
    view = engine.lead("L-1")
    assert view.fields == {"email": "[erased]", "name": "[erased]", "score": 62, "country": "FI"}
    assert view.state == "mql"
    assert view.lead.erased_at == at(2, 10)
    assert engine.volumes() == volumes


def test_an_erased_record_keeps_no_value_in_its_explanations() -> None:
    terms = [
        Term("lead", "has(email) and has(name)") if term.name == "lead" else term
        for term in DEFAULT.terms
    ]
    agreement = attrs.evolve(DEFAULT, terms=terms, fields={**DEFAULT.fields, "name": "text"})
    engine = Engine(agreement)
    engine.apply(created(**{**ANN, "email": None}))  # kept outside: no email
    engine.apply(LeadUpdated(id="u", lead="L-1", at=at(2, 10), fields={"email": EMAIL}))
    told = str(engine.lead("L-1").lead.history[0].explanations[0])
    assert EMAIL in told
    engine.apply(LeadErased(id="x", lead="L-1", at=at(2, 11)))
    record = engine.lead("L-1").lead
    said = repr(record) + "".join(str(e) for m in record.history for e in m.explanations)
    assert EMAIL not in said
    assert "Ann Virtanen" not in said
    assert "email = '[erased]'" in said


def test_a_personal_field_of_another_type_is_erased_to_a_value_of_its_type() -> None:
    """A phone declared a number becomes 0, so a replay takes its events as the run did."""
    agreement = attrs.evolve(DEFAULT, fields={**DEFAULT.fields, "phone": "number"})
    engine = mql(Engine(agreement))
    engine.apply(LeadUpdated(id="u", lead="L-1", at=at(2, 9, 30), fields={"phone": 358401234}))
    engine.apply(LeadErased(id="x", lead="L-1", at=at(2, 10)))
    assert engine.lead("L-1").fields["phone"] == 0


@pytest.mark.parametrize(
    "event",
    [
        ActivityLogged(id="y", lead="L-1", at=at(2, 11), kind="call", by="bob"),
        LeadUpdated(id="y", lead="L-1", at=at(2, 11), fields={"email": "ann@new.fi"}),
        LeadErased(id="y", lead="L-1", at=at(2, 11)),
        LeadConverted(id="y", lead="L-1", at=at(2, 11)),
    ],
    ids=lambda event: event.type,
)
def test_an_erased_lead_takes_no_more_events(event: Event) -> None:
    engine = mql()
    engine.apply(LeadErased(id="x", lead="L-1", at=at(2, 10)))
    before = engine.lead("L-1")
    [refused] = engine.apply(event)
    assert isinstance(refused, Rejected)
    assert "'lead' names a record" in refused.reason
    assert "erased" in refused.reason
    assert engine.lead("L-1") == before


def test_an_event_dated_before_an_erasure_is_refused_after_it() -> None:
    """The history kept for late events held personal data: it goes with the erasure, so a
    late event cannot be put before it, and is refused for that reason."""
    engine = mql()
    engine.apply(LeadErased(id="x", lead="L-1", at=at(2, 11)))
    [refused] = engine.apply(
        ActivityLogged(id="y", lead="L-1", at=at(2, 10), kind="call", by="bob")
    )
    assert isinstance(refused, Rejected)
    assert "was erased" in refused.reason
    assert "late ones included" in refused.reason


def test_an_unknown_lead_cannot_be_erased() -> None:
    [refused] = Engine().apply(LeadErased(id="x", lead="L-7", at=at(2, 10)))
    assert isinstance(refused, Rejected)
    assert "'lead' is unknown (got 'L-7')" in refused.reason


def test_an_agreement_without_personal_fields_erases_nothing_and_says_so() -> None:
    engine = mql(Engine(attrs.evolve(DEFAULT, personal=())))
    [refused] = engine.apply(LeadErased(id="x", lead="L-1", at=at(2, 10)))
    assert isinstance(refused, Rejected)
    assert "the agreement names no personal fields" in refused.reason


def test_a_condition_may_not_read_a_personal_fields_value() -> None:
    """After an erasure, a replay must decide as the run did: a condition may ask whether a
    personal field is there, not what it holds."""
    business = Term("lead", "has(email) and domain(email) not in ['gmail.com']")
    terms = [business if term.name == "lead" else term for term in DEFAULT.terms]
    with pytest.raises(AgreementError) as error:
        attrs.evolve(DEFAULT, terms=terms)
    [problem] = error.value.problems
    assert problem.field == "terms.lead.condition"
    assert "reads the value of personal field 'email'" in problem.message
    assert "has(email)" in problem.fix
    attrs.evolve(DEFAULT, terms=terms, personal=("name", "phone"))  # email not personal: fine


def test_personal_fields_are_checked() -> None:
    with pytest.raises(AgreementError) as error:
        attrs.evolve(DEFAULT, personal=("email", "email", "owner", ""))
    assert [p.message for p in error.value.problems] == [
        "is named twice",
        "is a reserved name (the lead's position), not a field",
        "is not a field name",
    ]


def test_the_agreement_file_names_its_personal_fields() -> None:
    text = agreement_to_toml(DEFAULT)
    assert "personal =" not in text  # the default is not written
    assert Agreement.from_toml_text(text).personal == DEFAULT.personal
    for personal in (("email", "phone"), ()):
        changed = attrs.evolve(DEFAULT, personal=personal)
        text = agreement_to_toml(changed)
        assert "personal = " + json.dumps(list(personal)) in text
        assert Agreement.from_toml_text(text).personal == personal
    with pytest.raises(AgreementError, match=r"'agreement\.personal' must be a list of names"):
        Agreement.from_toml_text(
            agreement_to_toml(DEFAULT).replace("[agreement]\n", "[agreement]\npersonal = 3\n")
        )


def test_a_new_version_that_changes_the_personal_fields_says_so() -> None:
    from leadsla._shell.diff import agreement_diff

    [change] = agreement_diff(DEFAULT, attrs.evolve(DEFAULT, personal=("email",)))
    assert (change.part, change.after) == ("personal fields", "email")


# -- erasure in the stores -----------------------------------------------------------------------


def erased_store(store: SqliteStore | PostgresStore) -> LeadView:
    """A store that kept everything of Ann (events, effects quoting her, a refusal quoting
    her, snapshots), then erased her; an update sent after it. The view of her, live."""
    store.apply(created())
    store.apply(created("L-2", at(2, 9, 5), email="bo@beta.se", score=70))
    store.apply(
        LeadUpdated(
            id="u1",
            lead="L-1",
            at=at(2, 9, 30),
            fields={"email": "ann@old.fi", "need_months": "soon"},
        )
    )
    store.apply(
        LeadUpdated(
            id="u2",
            lead="L-1",
            at=at(2, 9, 40),
            fields={"email": EMAIL, "notes": f"wrote to {EMAIL}"},
        )
    )
    store.apply(ActivityLogged(id="a1", lead="L-1", at=at(2, 10), kind="call", by="bob"))
    store.snapshot()
    effects = store.apply(LeadErased(id="x", lead="L-1", at=at(2, 11), by="dpo"))
    assert "Erased" in kinds(effects)
    [refused] = store.apply(
        LeadUpdated(id="u3", lead="L-1", at=at(2, 12), fields={"email": "ann@back.fi"})
    )
    assert isinstance(refused, Rejected)
    return store.lead("L-1")


SECRETS = (EMAIL, "ann@old.fi", "ann@back.fi", "Ann Virtanen", "Virtanen")


def test_an_erased_lead_leaves_nothing_of_itself_in_the_sqlite_file(tmp_path: Path) -> None:
    """The bytes of the store's files hold none of the values, in any form, while the other
    lead's email is still there."""
    path = tmp_path / "leads.db"
    with SqliteStore(path) as store:
        erased_store(store)
        files = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
        for name, data in files.items():
            for secret in SECRETS:
                assert secret.encode() not in data, (secret, name)
    data = path.read_bytes()
    for secret in SECRETS:
        assert secret.encode() not in data
        assert secret.encode("utf-16-le") not in data
    assert b"bo@beta.se" in data


def test_a_store_replays_to_where_it_was_after_an_erasure(tmp_path: Path) -> None:
    """From the snapshot written after the erasure, and from the scrubbed events alone."""
    path = tmp_path / "leads.db"
    with SqliteStore(path) as store:
        live = erased_store(store)
        others = store.lead("L-2")
        refused = [r.event for r in store.refused()]
    assert live.fields["notes"] == "wrote to [erased]"
    with SqliteStore(path) as reopened:
        assert (reopened.lead("L-1"), reopened.lead("L-2")) == (live, others)
    with sqlite3.connect(path) as connection:
        connection.execute("delete from snapshots")
    with SqliteStore(path) as replayed:
        assert (replayed.lead("L-1"), replayed.lead("L-2")) == (live, others)
        assert [r.event for r in replayed.refused()] == refused == ["u1", "u3"]
        for rejected in replayed.refused():
            assert "ann@" not in rejected.reason


def test_the_outbox_keeps_no_erased_value(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "leads.db") as store:
        erased_store(store)
        bodies = [str(dict(item.data)) for item in store.pending()]
    assert any("Erased" in body or "erased" in body for body in bodies)
    assert not [body for body in bodies if any(secret in body for secret in SECRETS)]


def test_a_crash_before_the_vacuum_is_made_good_on_opening(tmp_path: Path) -> None:
    path = tmp_path / "leads.db"
    with SqliteStore(path) as store:
        store.apply(created())
    with sqlite3.connect(path) as connection:  # an erasure's mark, as a crash would leave it
        connection.execute("insert into meta (key, value) values ('vacuum', 'erased')")
    with SqliteStore(path):
        pass
    with sqlite3.connect(path) as connection:
        assert connection.execute("select value from meta where key = 'vacuum'").fetchall() == []


def test_the_postgresql_store_keeps_no_erased_value(postgres_db: str) -> None:
    """In every table, as the server returns the rows; and the partitioned store's view of
    a survivor joins the records merged into it from other partitions."""
    import psycopg

    with PostgresStore(postgres_db, partitions=4) as store:
        live = erased_store(store)
        store.apply(LeadMerged(id="m", lead="L-2", at=at(2, 13), into="L-1"))
        assert [m.lead.id for m in store.lead("L-1").merged] == ["L-2"]
        absorbed = store.lead("L-2")
    with psycopg.connect(postgres_db) as connection:
        for table in ("inputs", "outbox", "snapshots"):
            rows = connection.execute(f"select body from leadsla.{table}").fetchall()
            for (value,) in rows:
                text = bytes(value) if isinstance(value, (bytes, memoryview)) else value.encode()
                for secret in SECRETS:
                    assert secret.encode() not in text, (secret, table)
    with PostgresStore(postgres_db) as reopened:
        assert (reopened.lead("L-1"), reopened.lead("L-2")) == (live, absorbed)


def test_the_erase_command(tmp_path: Path) -> None:
    path = tmp_path / "leads.db"
    with SqliteStore(path) as store:
        store.apply(created())
    out = io.StringIO()
    assert (
        main(
            ["erase", "L-1", "--db", str(path), "--at", "2026-03-02T10:00:00+02:00", "--by", "dpo"],
            out,
        )
        == 0
    )
    said = out.getvalue()
    assert "erased lead L-1 (personal fields: email, name)" in said
    assert "personal fields erased (email, name)" in said
    assert EMAIL.encode() not in path.read_bytes()
    with SqliteStore(path) as store:
        assert store.lead("L-1").fields["email"] == "[erased]"
    assert main(["erase", "L-1", "--store", str(path)], io.StringIO()) == 1
    assert main(["erase", "L-9", "--db", str(path)], io.StringIO()) == 1


# -- late events and properties -------------------------------------------------------------


def test_a_late_conversion_withdraws_the_breach_that_came_after_it() -> None:
    """Converted at 12:00 (before the 13:00 deadline), told at 14:00: the breach and its
    escalation are withdrawn, the clock cancelled instead."""
    engine = mql()
    engine.advance(at(2, 14))
    effects = engine.apply(LeadConverted(id="v", lead="L-1", at=at(2, 12)))
    withdrawn = {e.kind for e in effects if isinstance(e, Retracted)}
    assert {"obligation_breached", "action_requested"} <= withdrawn
    touch = engine.lead("L-1").obligation("first-touch")
    assert touch is not None
    assert touch.status == "cancelled"


def test_an_activity_dated_before_a_merge_and_told_after_it_is_taken() -> None:
    engine = mql()
    engine.apply(created("L-2", at(2, 10)))
    engine.apply(LeadMerged(id="m", lead="L-2", at=at(2, 12), into="L-1"))
    effects = engine.apply(ActivityLogged(id="a", lead="L-2", at=at(2, 11), kind="call", by="bob"))
    assert any(isinstance(e, ObligationMet) for e in effects)
    touch = engine.lead("L-2").obligation("first-touch")
    assert touch is not None
    assert touch.status == "met"


def run(events: Sequence[Event]) -> tuple[Engine, list[Effect]]:
    """Apply ``events``, then advance a month past the last."""
    engine = Engine()
    effects = [effect for event in events for effect in engine.apply(event)]
    if events:
        effects += engine.advance(max(event.at for event in events) + timedelta(days=30))
    return engine, effects


def rendered(effects: Sequence[Effect]) -> list[dict[str, object]]:
    return [effect_to_dict(effect) for effect in effects]


@given(events=event_streams(housekeeping=True))
def test_a_lead_gets_the_same_results_alone_or_with_the_others(events: list[Event]) -> None:
    """Partition safety: a merge is its absorbed lead's own event, as a conversion and an
    erasure are theirs."""
    together_engine, together = run(events)
    end = max(event.at for event in events) + timedelta(days=30)
    for lead in {event.lead for event in events}:
        alone_engine, alone = run([event for event in events if event.lead == lead])
        alone += alone_engine.advance(end)  # (to where the others took the clock)
        assert rendered(alone) == rendered([e for e in together if e.lead == lead])
        if lead in set(alone_engine.leads()):
            assert alone_engine.lead(lead) == together_engine.lead(lead)


@given(events=event_streams(housekeeping=True), data=st.data())
def test_late_conversions_and_merges_give_what_time_order_gives(
    events: list[Event], data: st.DataObject
) -> None:
    """Any arrival within the allowed lateness gives the records and clocks of the log in
    time order (erasures aside: an erased lead takes no late event)."""
    ordered = [
        attrs.evolve(event, at=event.at + timedelta(microseconds=index))
        for index, event in enumerate(e for e in events if not isinstance(e, LeadErased))
    ]
    delays = [data.draw(st.sampled_from([0, 0, 5, 60, 600])) for _ in ordered]
    arrived = [
        event
        for _, _, event in sorted(
            ((e.at + timedelta(minutes=d)).timestamp(), i, e)
            for i, (e, d) in enumerate(zip(ordered, delays, strict=True))
        )
    ]
    sorted_engine, _ = run(ordered)
    engine, _ = run(arrived)
    assert {lead: engine.lead(lead) for lead in engine.leads()} == {
        lead: sorted_engine.lead(lead) for lead in sorted_engine.leads()
    }


@settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow])
@given(events=event_streams(housekeeping=True, max_events=25))
def test_a_store_replays_its_scrubbed_events_to_the_same_leads(events: list[Event]) -> None:
    """Whatever was erased, the events a store keeps replay to the states, clocks and owners
    the store holds (with the erased values as the store holds them)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "leads.db"
        with SqliteStore(path, snapshot_every=None) as store:
            store.apply_many(events)
            live = {lead: store.lead(lead) for lead in store.leads()}
        with SqliteStore(path, snapshot_every=None) as replayed:
            assert {lead: replayed.lead(lead) for lead in replayed.leads()} == live


def test_the_scorecard_of_a_log_with_housekeeping_renders_in_every_format() -> None:
    engine = two_records()
    engine.apply(LeadConverted(id="v", lead="L-1", at=at(2, 15)))
    engine.apply(LeadErased(id="x", lead="L-1", at=at(2, 16)))
    cards = scorecard(engine)
    for format in ("text", "md", "json", "csv"):
        assert "first-touch" in render_scorecard(cards, format)


def test_a_late_merge_joins_and_a_late_conversion_before_it_unjoins() -> None:
    """A merge put in its place by a late arrival joins the survivor's view; a conversion
    told later, dated before the merge, makes the merge refused, and the view lets go."""
    engine = mql()
    engine.apply(created("L-2", at(2, 10)))
    engine.apply(ActivityLogged(id="a", lead="L-2", at=at(2, 12), kind="call", by="bob"))
    engine.apply(LeadMerged(id="m", lead="L-2", at=at(2, 11), into="L-1"))
    assert [m.lead.id for m in engine.lead("L-1").merged] == ["L-2"]
    engine.apply(LeadConverted(id="v", lead="L-2", at=at(2, 10, 30)))
    assert engine.lead("L-2").lead.converted_to == "opportunity"
    assert engine.lead("L-1").merged == ()
