"""The naive design the engine is measured against.

One ``transitions`` machine per lead (the lead object is the machine's model), obligations as
dicts in a list per lead, and before every event a full scan of every lead's obligations for
those now due. It follows the default agreement closely enough for the synthetic log (the
same calendar arithmetic, the same states, the same three sales clocks and the nurture
review); it keeps no history, effects or explanations, so it does less work per event than
leadsla does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from transitions import Machine

from leadsla import (
    ActivityLogged,
    Agreement,
    Event,
    LeadCreated,
    LeadUpdated,
    OwnerAssigned,
    TransitionRequested,
)

# The default lifecycle as transitions' machine configuration (the qualify guard is left to the
# engine's own check, as the naive engine qualifies leads itself).
STATES = ["lead", "mql", "sal", "sql", "won", "lost", "nurture", "handback", "disqualified"]
TRANSITIONS: list[Any] = [
    {"trigger": "qualify", "source": "lead", "dest": "mql"},
    {"trigger": "accept", "source": "mql", "dest": "sal"},
    {"trigger": "reject", "source": "mql", "dest": "handback"},
    {"trigger": "qualify_sales", "source": "sal", "dest": "sql", "conditions": "sql_holds"},
    {"trigger": "win", "source": "sql", "dest": "won"},
    {"trigger": "lose", "source": "sql", "dest": "lost"},
    {"trigger": "nurture", "source": ["mql", "sal", "sql"], "dest": "nurture"},
    {"trigger": "hand_back", "source": ["mql", "sal"], "dest": "handback"},
    {"trigger": "requalify", "source": ["nurture", "handback"], "dest": "mql"},
    {
        "trigger": "disqualify",
        "source": ["lead", "mql", "sal", "sql", "nurture", "handback"],
        "dest": "disqualified",
    },
]
SALES = ("alice", "bob", "carol")


def sql_holds(fields: dict[str, Any]) -> bool:
    """The default sql term, written by hand."""
    return fields.get("budget_confirmed") is True and fields.get("need_months", 99) <= 6


class NaiveLead:
    def __init__(self, lead_id: str, fields: dict[str, Any]) -> None:
        self.id = lead_id
        self.fields = dict(fields)
        self.owner = "mia"
        self.obligations: list[dict[str, Any]] = []
        Machine(
            model=self,
            states=STATES,
            transitions=TRANSITIONS,
            initial="lead",
            auto_transitions=False,
        )

    def sql_holds(self) -> bool:
        return sql_holds(self.fields)


class NaiveEngine:
    def __init__(self) -> None:
        agreement = Agreement.default()
        self.calendar = agreement.calendars["office"]
        self.specs = {spec.name: spec for spec in agreement.obligations}
        self.leads: dict[str, NaiveLead] = {}
        self.breaches = 0

    def _due(self, now: datetime) -> None:
        for lead in self.leads.values():  # the full scan
            for obligation in lead.obligations:
                if obligation["status"] == "open" and obligation["due"] <= now:
                    obligation["status"] = "breached"
                    obligation["owner"] = lead.owner
                    self.breaches += 1

    def advance(self, now: datetime) -> None:
        self._due(now)

    def _open(self, lead: NaiveLead, name: str, at: datetime) -> None:
        spec = self.specs[name]
        due = self.calendar.add(at, spec.within)
        lead.obligations.append(
            {"name": name, "status": "open", "opened": at, "due": due, "attempts": 0}
        )

    def _enter(self, lead: NaiveLead, at: datetime) -> None:
        state = lead.state  # type: ignore[attr-defined]
        if state == "mql":
            lead.owner = SALES[hash(lead.id) % 3]
            for name in ("first-touch", "accept-or-reject", "attempts"):
                self._open(lead, name, at)
        for obligation in lead.obligations:
            if obligation["status"] != "open":
                continue
            if (obligation["name"] == "accept-or-reject" and state in ("sal", "handback")) or (
                obligation["name"] == "attempts" and state == "sql"
            ):
                obligation["status"] = "met"
            elif (
                state in ("nurture", "handback", "won", "lost", "disqualified")
                and obligation["name"] != "nurture-review"
            ):
                obligation["status"] = "cancelled"
        if state == "nurture":
            lead.owner = "mia"
            self._open(lead, "nurture-review", at)

    def _rules(self, lead: NaiveLead, at: datetime) -> None:
        state = lead.state  # type: ignore[attr-defined]
        if state == "lead" and lead.fields.get("score", 0) >= 50:
            lead.qualify()  # type: ignore[attr-defined]
            self._enter(lead, at)
        if lead.state in ("mql", "sal", "sql") and lead.fields.get("need_months", 0) > 6:  # type: ignore[attr-defined]
            lead.nurture()  # type: ignore[attr-defined]
            self._enter(lead, at)

    def apply(self, event: Event) -> None:
        self._due(event.at)
        if isinstance(event, LeadCreated):
            lead = self.leads[event.lead] = NaiveLead(event.lead, dict(event.fields))
            self._rules(lead, event.at)
            return
        lead = self.leads[event.lead]
        if isinstance(event, LeadUpdated):
            lead.fields.update(event.fields)
            self._rules(lead, event.at)
        elif isinstance(event, TransitionRequested):
            try:
                if getattr(lead, event.trigger)():
                    self._enter(lead, event.at)
            except Exception:
                return
        elif isinstance(event, ActivityLogged):
            for obligation in lead.obligations:
                if obligation["status"] != "open":
                    continue
                if obligation["name"] == "first-touch":
                    obligation["status"] = "met"
                elif obligation["name"] == "attempts":
                    if event.outcome == "connected":
                        obligation["status"] = "met"
                    else:
                        obligation["attempts"] += 1
                        if obligation["attempts"] >= 6:
                            obligation["status"] = "met"
                elif obligation["name"] == "nurture-review" and event.by == "mia":
                    obligation["status"] = "met"
        elif isinstance(event, OwnerAssigned):
            lead.owner = event.owner or lead.owner
