"""The shape of the agreement file: its tables in order, and the keys each table may hold.

The reader (:mod:`leadsla._shell.agreement_read`) refuses any other key, with the closest known
one as a suggestion; the writer (:mod:`leadsla._shell.agreement_write`) writes the tables in this
order. The lifecycle's keys belong to :meth:`leadsla.Lifecycle.from_dict`, which reads that table.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ACTION_KEYS",
    "ACTIVITY_KEYS",
    "AGREEMENT_KEYS",
    "ASSIGNMENT_KEYS",
    "ATTEMPTS_KEYS",
    "CALENDAR_KEYS",
    "COMMITMENT_KEYS",
    "CONVERSION_KEYS",
    "GOAL_KEYS",
    "OBLIGATION_KEYS",
    "OWNERSHIP_KEYS",
    "PAUSE_KEYS",
    "PERSON_KEYS",
    "ROUTE_KEYS",
    "RULE_KEYS",
    "SECTIONS",
    "TEAM_KEYS",
    "TERM_KEYS",
    "TIER_KEYS",
    "WARNING_KEYS",
    "WHEN_KEYS",
]

#: The top-level tables of the file, in the order a reader wants them.
SECTIONS: Final = (
    "agreement",
    "fields",
    "calendars",
    "teams",
    "people",
    "ownership",
    "terms",
    "lifecycle",
    "rules",
    "obligations",
    "commitments",
    "goal",
)

AGREEMENT_KEYS: Final = (
    "name",
    "version",
    "effective",
    "timezone",
    "tracking_period",
    "review",
    "rule_mode",
    "personal",
)
CALENDAR_KEYS: Final = (
    "timezone",
    "week",
    "holidays",
    "overrides",
    "country",
    "teams",
    "people",
    "region",
)
TEAM_KEYS: Final = ("members", "manager", "assignment", "sticky")
PERSON_KEYS: Final = ("away", "capacity", "timezone")
OWNERSHIP_KEYS: Final = ("reassign_when_away",)
ASSIGNMENT_KEYS: Final = ("fixed", "routing", "fallback")
ROUTE_KEYS: Final = ("when", "person")
TERM_KEYS: Final = ("description", "condition")
RULE_KEYS: Final = ("name", "description", "on", "states", "when", "then", "priority")
#: The keys naming an action; ``escalate`` is for obligations only.
ACTION_KEYS: Final = ("fire", "assign", "reassign", "tag", "untag", "notify", "escalate")
OBLIGATION_KEYS: Final = (
    "name",
    "description",
    "party",
    "starts",
    "met",
    "cancelled",
    "pause",
    "within",
    "tiers",
    "retier",
    "calendar",
    "warnings",
    "attempts",
    "on_met",
    "on_breach",
    "grace",
    "repeat",
)
WHEN_KEYS: Final = ("states", "leaving", "events", "activity", "condition")
ACTIVITY_KEYS: Final = ("kinds", "outcomes", "by")
PAUSE_KEYS: Final = ("states", "condition")
WARNING_KEYS: Final = ("before", "fraction", "after", "actions")
TIER_KEYS: Final = ("name", "when", "within")
ATTEMPTS_KEYS: Final = ("count", "counts", "reached", "on_exhausted")
COMMITMENT_KEYS: Final = (
    "name",
    "description",
    "party",
    "state",
    "at_least",
    "per",
    "accepted_state",
    "accepted_share",
)
GOAL_KEYS: Final = ("description", "customers", "per", "marketing_share", "conversions")
CONVERSION_KEYS: Final = ("from", "to", "rate")
