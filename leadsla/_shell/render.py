"""Plain-text rendering of effects, for people: the CLI, logs, reports.

A shell-side module: it reads effects and explanations, never changes anything.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from leadsla._core.effects import (
    ActionRequested,
    ActionSkipped,
    Converted,
    Duplicate,
    Effect,
    Erased,
    HeldOutside,
    Merged,
    Migrated,
    ObligationBreached,
    ObligationCancelled,
    ObligationEscalated,
    ObligationMet,
    ObligationOpened,
    ObligationPaused,
    ObligationResumed,
    ObligationRetargeted,
    ObligationWarned,
    OwnerChanged,
    Rejected,
    RuleFired,
    Tagged,
    Transitioned,
)
from leadsla._core.housekeeping import BECAME
from leadsla._core.ownership import Owner
from leadsla._core.tally import Volume

__all__ = ["accepted", "describe_effect", "format_span", "owner_name", "plural", "stamp"]


def plural(number: int, noun: str) -> str:
    """``"1 effect"``, ``"3 effects"``: a number and its noun, plural when it is not one."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def stamp(moment: datetime) -> str:
    """``Mon 2026-03-09 12:00`` (seconds only when they are not zero)."""
    text = moment.strftime("%a %Y-%m-%d %H:%M")
    return text + moment.strftime(":%S") if moment.second else text


def owner_name(owner: Owner | None) -> str:
    """Who to count a breach against: the person, else the team, else ``nobody``."""
    if owner is None:
        return "nobody"
    return owner.person or owner.team


def accepted(volume: Volume) -> str:
    """``, 85% accepted`` when the commitment has an acceptance share, else nothing."""
    share = volume.accepted_share
    return f", {share:.0%} accepted" if share is not None else ""


def format_span(span: timedelta) -> str:
    """``2 h 30 min`` for business or calendar time."""
    minutes = round(span.total_seconds() / 60)
    hours, minutes = divmod(abs(minutes), 60)
    sign = "-" if span < timedelta(0) else ""
    if hours and minutes:
        return f"{sign}{hours} h {minutes} min"
    if hours:
        return f"{sign}{hours} h"
    return f"{sign}{minutes} min"


def describe_effect(effect: Effect) -> str:
    """One line saying what the engine decided, for a person to read."""
    if isinstance(effect, Transitioned):
        if effect.source is None:
            return f"{BECAME if effect.cause == BECAME else 'created'} in {effect.dest}"
        why = f"{effect.trigger}, {effect.cause}"
        if effect.reason:
            why += f", reason {effect.reason}"
        return f"{effect.source} -> {effect.dest} ({why})"
    if isinstance(effect, OwnerChanged):
        return f"owner: {effect.owner} ({effect.reason})"
    if isinstance(effect, RuleFired):
        return f"rule {effect.rule} fired"
    if isinstance(effect, ObligationOpened):
        tier = f" (tier {effect.tier})" if effect.tier else ""
        on = f" on calendar {effect.calendar}" if effect.calendar else ""
        return (
            f"{effect.obligation} opened for {effect.party}{tier}, due {stamp(effect.due_at)}{on}"
        )
    if isinstance(effect, ObligationWarned):
        return f"{effect.obligation} warning: due {stamp(effect.due_at)}, owner {effect.owner}"
    if isinstance(effect, ObligationMet):
        late = f", {format_span(effect.lateness)} late" if effect.late and effect.lateness else ""
        return f"{effect.obligation} met{late}: {effect.outcome}"
    if isinstance(effect, ObligationBreached):
        return f"{effect.obligation} BREACHED, owner {effect.owner}"
    if isinstance(effect, ObligationEscalated):
        return f"{effect.obligation} still not met: step {effect.step} of its ladder"
    if isinstance(effect, ObligationRetargeted):
        return (
            f"{effect.obligation} now tier {effect.tier} (was {effect.previous}), due "
            f"{stamp(effect.due_at)}"
        )
    if isinstance(effect, ObligationCancelled):
        return f"{effect.obligation} cancelled: {effect.reason}"
    if isinstance(effect, ObligationPaused):
        return f"{effect.obligation} paused"
    if isinstance(effect, ObligationResumed):
        return f"{effect.obligation} resumed, now due {stamp(effect.due_at)}"
    if isinstance(effect, ActionRequested):
        message = f": {effect.message}" if effect.message else ""
        return f"{effect.action} {effect.to}{message}"
    if isinstance(effect, ActionSkipped):
        return f"skipped {effect.action} ({effect.cause}): {effect.reason}"
    if isinstance(effect, Migrated):
        return f"migrated from version {effect.previous} to version {effect.version}"
    if isinstance(effect, Tagged):
        return f"tag {effect.tag} {'removed' if effect.removed else 'added'}"
    if isinstance(effect, Rejected):
        return f"REJECTED event {effect.event}: {effect.reason}"
    if isinstance(effect, Duplicate):
        return f"duplicate event {effect.event} ignored"
    if isinstance(effect, HeldOutside):
        return f"not a lead: kept outside the lifecycle ({effect.term} term does not hold)"
    if isinstance(effect, Converted):
        return f"converted to {effect.to}: left the lifecycle"
    if isinstance(effect, Merged):
        return f"merged into {effect.into}: left the lifecycle"
    if isinstance(effect, Erased):
        return f"personal fields erased ({', '.join(effect.fields) or 'none held a value'})"
    return type(effect).__name__


def markdown_text(text: str) -> str:
    """``text`` as one line of Markdown that shows as written: no HTML (Markdown passes
    HTML through, and agreements, names and reasons come from people and forms: ``&`` and
    ``<`` are escaped, which is enough to keep every tag out) and Markdown's own characters
    backslashed."""
    escaped = " ".join(text.split()).replace("&", "&amp;").replace("<", "&lt;")
    for character in "\\`*_[]|#!":
        escaped = escaped.replace(character, "\\" + character)
    return escaped
