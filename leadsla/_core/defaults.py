"""The default agreement's parts: terms, teams and rules, as values.

What they say is written down in docs/explanation/default-agreement.md.

The lifecycle is :meth:`leadsla.Lifecycle.default`; the calendar, obligations, commitments and
goal join these in the agreement.
"""

from __future__ import annotations

from leadsla._core.conditions import Term, Terms
from leadsla._core.ownership import Team
from leadsla._core.rules import Fire, Rule, RuleSet

__all__ = ["PERSONAL_FIELDS", "default_rules", "default_teams", "default_terms"]

#: The fields an agreement holds personal data in unless it says otherwise: what an erasure
#: erases (see :attr:`leadsla.Agreement.personal`).
PERSONAL_FIELDS: tuple[str, ...] = ("email", "name", "first_name", "last_name", "phone")


def default_terms() -> Terms:
    """``lead``: an email is present; ``mql``: score ≥ 50; ``sql``: budget confirmed, need ≤ 6
    months."""
    return Terms(
        [
            Term("lead", "has(email)", description="A lead: an email address is present."),
            Term(
                "mql",
                "score >= 50",
                description="Marketing-qualified lead: the lead scored at least 50.",
            ),
            Term(
                "sql",
                "budget_confirmed == true and need_months <= 6",
                description=(
                    "Sales-qualified lead: the budget is confirmed and the need is at most six "
                    "months away."
                ),
            ),
        ]
    )


def default_teams() -> tuple[Team, ...]:
    """Marketing (mia) and sales (alice, bob, carol; manager sam), assigning by round robin."""
    return (
        Team("marketing", members=("mia",)),
        Team("sales", members=("alice", "bob", "carol"), manager="sam"),
    )


def default_rules() -> RuleSet:
    """A lead whose mql term holds enters mql at once; a need over six months goes to nurture."""
    return RuleSet(
        (
            Rule(
                "auto-qualify",
                when="mql",
                then=Fire("qualify", reason="mql-term-holds"),
                on=("lead_created", "lead_updated"),
                states="lead",
                description="A lead whose mql term holds becomes an MQL at once.",
            ),
            Rule(
                "need-over-6-months",
                when="need_months > 6",
                then=Fire("nurture", reason="need-over-6-months"),
                on=("lead_created", "lead_updated", "transitioned"),
                states=("mql", "sal", "sql"),
                description=(
                    "A lead whose need is more than six months away goes back to marketing's "
                    "nurture track."
                ),
            ),
        )
    )
