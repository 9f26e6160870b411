"""Lifecycle transitions, conditions and lead-record memory, against the obvious alternatives.

Measured in one run:

* a guarded transition (sal --qualify_sales [sql]--> sql) through leadsla's public
  ``Workflow.fire``: on the default agreement (with its rules, which run after every move), the
  same call with ``rules=False`` (the move alone), and a lifecycle without rules; against the
  ``transitions`` idiom of one machine per lead (``lead.qualify_sales()``), and against a plain
  dict lookup with the same guard;
* a condition (``score >= 50 and country in [...] and email domain``) compiled by leadsla
  against the ``rule-engine`` package (bench extra);
* memory per lead: 100 000 leadsla records, with and without their history, against the
  machine-per-lead idiom (measured on 5 000 leads, reported per lead).

Targets: a guarded transition at most 10 µs (median); at least 30× less memory per
lead than the machine-per-lead idiom; at most 1 KB per lead record excluding its history.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from _naive import STATES, TRANSITIONS, sql_holds
from _timing import format_seconds, measure_interleaved, ratio, table
from transitions import Machine

from leadsla import Condition, Lead, Lifecycle, Workflow
from leadsla._core.conditions import Scope
from leadsla._core.defaults import default_teams, default_terms

AT = datetime(2026, 3, 2, 9, tzinfo=ZoneInfo("Europe/Helsinki"))
FIELDS = {
    "email": "ann@acme.com",
    "score": 60,
    "country": "FI",
    "budget_confirmed": True,
    "need_months": 3,
}


class _IdiomLead:
    """The ``transitions`` idiom: the lead is the model and owns its machine."""

    def __init__(self, lead_id: str, fields: dict[str, Any], state: str) -> None:
        self.id = lead_id
        self.fields = fields
        guard = {"conditions": [lambda: sql_holds(self.fields)]}
        Machine(
            model=self,
            states=STATES,
            initial=state,
            auto_transitions=False,
            transitions=[
                {**t, **guard} if t["trigger"] == "qualify_sales" else t for t in TRANSITIONS
            ],
        )


def _lead_in_sal(workflow: Workflow) -> Lead:
    lead = workflow.create("L-1", FIELDS, AT).lead
    if lead.state == "lead":
        lead = workflow.fire(lead, "qualify", AT).lead
    return workflow.fire(lead, "accept", AT, by="bob").lead


def _transition_calls() -> dict[str, tuple[Callable[[int], object], int]]:
    default = Workflow.default()
    bare = Workflow(lifecycle=Lifecycle.default(), terms=default_terms(), teams=default_teams())
    default_lead, bare_lead = _lead_in_sal(default), _lead_in_sal(bare)

    def leadsla_default(_: int) -> object:
        return default.fire(default_lead, "qualify_sales", AT, by="bob")

    def leadsla_bare(_: int) -> object:
        return bare.fire(bare_lead, "qualify_sales", AT, by="bob")

    def leadsla_no_rule_pass(_: int) -> object:
        return default.fire(default_lead, "qualify_sales", AT, by="bob", rules=False)

    idioms = [_IdiomLead(f"L-{i}", dict(FIELDS), "sal") for i in range(200)]

    def idiom(i: int) -> object:
        lead = idioms[i]
        lead.state = "sal"  # type: ignore[attr-defined]
        return lead.qualify_sales()  # type: ignore[attr-defined]

    table: dict[tuple[str, str], tuple[str, Callable[[dict[str, Any]], bool]]] = {
        ("sal", "qualify_sales"): ("sql", sql_holds)
    }
    states = ["sal"] * 200

    def plain_dict(i: int) -> object:
        dest, guard = table[(states[i], "qualify_sales")]
        if guard(FIELDS):
            states[i] = dest
        states[i] = "sal"
        return dest

    return {
        "leadsla fire (default agreement)": (leadsla_default, 200),
        "leadsla fire (lifecycle without rules)": (leadsla_bare, 200),
        "leadsla fire (default, rules=False)": (leadsla_no_rule_pass, 200),
        "transitions, machine per lead": (idiom, 200),
        "plain dict lookup": (plain_dict, 200),
    }


def _condition_calls() -> dict[str, tuple[Callable[[int], object], int]]:
    text = "score >= 50 and country in ['FI', 'SE', 'NO', 'DK'] and domain(email) == 'acme.com'"
    compiled = Condition(text).compile()
    scope = Scope(FIELDS)
    calls: dict[str, tuple[Callable[[int], object], int]] = {
        "leadsla condition": (lambda _: compiled(scope), 500)
    }
    try:
        import rule_engine

        rule = rule_engine.Rule(
            'score >= 50 and country in ["FI", "SE", "NO", "DK"] and email =~ ".*@acme\\.com$"'
        )
        assert rule.matches(FIELDS)
        assert compiled(scope)
        calls["rule-engine"] = (lambda _: rule.matches(FIELDS), 50)
    except ImportError:  # pragma: no cover - the bench extra is missing
        pass
    return calls


def _memory(count: int, make: Callable[[int], object]) -> tuple[float, list[object]]:
    gc.collect()
    tracemalloc.start()
    kept = [make(i) for i in range(count)]
    used, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return used / count, kept


def _leadsla_memory(count: int) -> tuple[float, float]:
    """Per-lead memory of leadsla records: as the workflow keeps them, and without history.

    Each is measured in its own session over ``count`` leads created by the default workflow
    (two thirds of them auto-qualify into mql, so they carry two history entries).
    """
    workflow = Workflow.default()

    def make(i: int) -> Lead:
        fields = dict(FIELDS, email=f"user{i}@acme.com", score=40 + i % 30)
        return workflow.create(f"L-{i}", fields, AT + timedelta(seconds=i)).lead

    def make_without_history(i: int) -> Lead:
        lead = make(i)
        return Lead(
            lead.id,
            lead.fields,
            lead.state,
            lead.highest_stage,
            (),
            lead.ownership,
            lead.tags,
            lead.updated_at,
        )

    with_history, kept = _memory(count, make)
    del kept
    without_history, kept = _memory(count, make_without_history)
    del kept
    return with_history, without_history


def run(quick: bool = False) -> dict[str, Any]:
    batches = 9 if quick else 25
    timings = measure_interleaved(_transition_calls(), batches=batches)
    leadsla_fire = timings["leadsla fire (default agreement)"]
    rows = [[name, str(timing), ratio(timing, leadsla_fire)] for name, timing in timings.items()]
    print("Guarded transition sal --qualify_sales [sql]--> sql, per-call medians")
    print(table(rows, ["how", "per call", "vs leadsla default"]))

    conditions = measure_interleaved(_condition_calls(), batches=batches)
    print()
    print("Condition: score >= 50 and country in [...] and the email's domain")
    condition_rows = [[name, str(timing)] for name, timing in conditions.items()]
    if "rule-engine" in conditions:
        condition_rows[1].append(ratio(conditions["rule-engine"], conditions["leadsla condition"]))
        condition_rows[0].append("1.0×")
    print(table(condition_rows, ["how", "per evaluation", "vs leadsla"][: len(condition_rows[0])]))

    with_history, without_history = _leadsla_memory(20_000 if quick else 100_000)
    idiom_count = 2_000 if quick else 5_000
    idiom_memory, idioms = _memory(
        idiom_count, lambda i: _IdiomLead(f"L-{i}", dict(FIELDS, email=f"user{i}@acme.com"), "lead")
    )
    del idioms
    print()
    print("Memory per lead (tracemalloc)")
    print(
        table(
            [
                ["leadsla record with its history", f"{with_history:,.0f} B", "1.0×", "-"],
                ["leadsla record without history", f"{without_history:,.0f} B", "-", "1.0×"],
                [
                    f"transitions, machine per lead ({idiom_count:,} leads)",
                    f"{idiom_memory:,.0f} B",
                    f"{idiom_memory / with_history:,.1f}×",
                    f"{idiom_memory / without_history:,.1f}×",
                ],
            ],
            ["what", "per lead", "vs with history", "vs without history"],
        )
    )
    bare = timings["leadsla fire (default, rules=False)"]
    print()
    print("Targets (issue 3):")
    print(
        f"  guarded transition: {format_seconds(bare.median)} for the move itself (guard, machine,"
        f" new record, history entry, effects); {format_seconds(leadsla_fire.median)} with the"
        " default agreement's rule pass after it (target ≤ 10 µs)"
    )
    print(
        "  memory, machine per lead / leadsla record: "
        f"{idiom_memory / without_history:,.1f}× (target ≥ 30×); "
        f"{idiom_memory / with_history:,.1f}× counting leadsla's history, which the idiom lacks"
    )
    print(f"  lead record without history: {without_history:,.0f} B (target ≤ 1 024 B)")
    results: dict[str, Any] = dict(timings)
    results.update(conditions)
    results["memory"] = {
        "with history": with_history,
        "without history": without_history,
        "machine per lead": idiom_memory,
    }
    return results
