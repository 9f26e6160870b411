"""Moving chosen open leads to a newer version of the agreement, explicitly.

A lead is judged by the version in force when it was created (see
:mod:`leadsla._core.versions`). When the teams agree that some leads already open should
follow the new rules too, :func:`migrate` moves them, at a stated instant, as events of their
own (``LeadMigrated``): kept in the log and the store like any event, so a replay, a reopened
store and an as-of question give the same answers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

from leadsla._core.agreement import Agreement
from leadsla._core.calendar import instant_us, span_us
from leadsla._core.effects import Effect
from leadsla._core.engine import Engine
from leadsla._core.errors import Problem, UsageError, unknown
from leadsla._core.events import LeadMigrated
from leadsla._core.versions import effective_at
from leadsla._core.views import LeadView
from leadsla._shell.keeping import Store

__all__ = ["migrate"]

#: How many leads a refusal names before it says how many more.
_NAMED = 10


def migrate(
    target: Engine | Store,
    select: Callable[[LeadView], bool] | Iterable[str],
    *,
    to: str,
    at: datetime,
    states: Mapping[str, str] | None = None,
    by: str | None = None,
) -> list[Effect]:
    """Move the chosen open leads of ``target`` (an engine made with
    :class:`~leadsla.Versions`, or a store) to the version named ``to`` from ``at`` on; the
    effects, which say for each lead what changed.

    ``select`` chooses the leads: a function of a lead's view, or lead ids. Each lead keeps
    its state, or takes ``states[its state]`` when given (needed when the new version's
    lifecycle lacks its state). Its running and paused clocks are cancelled ("migrated to
    version 2: recomputed", or "...: not in it" when the new version lacks the obligation);
    the recomputed ones open again under the new version from the same start, due by the new
    target (or at ``at`` when that has passed); the obligations its state starts there are
    opened. Breached clocks stay breached.

    Refused, with every lead that cannot move listed and nothing moved: an unknown version,
    a lead that is closed, unknown, or already judged by that version or a newer one, and a
    state the new lifecycle lacks without a mapping.
    """
    if not isinstance(target, Engine):
        target._follow_versions()  # a shared store: what another process adopted meanwhile
    versions = target.versions
    if to not in versions.names:
        raise UsageError(unknown("version", to, versions.names, "to"))
    new = versions.named(to)
    newer = versions.names.index(to)
    _check_instant(target, new, at)
    states = dict(states or {})
    for old, state in states.items():
        if state not in new.lifecycle.state_names:
            raise UsageError(
                Problem(
                    f"states[{old!r}]",
                    state,
                    f"is not a state of version {to!r}",
                    f"map it to one of {', '.join(new.lifecycle.state_names)}",
                )
            )
    chosen = _chosen(target, select)
    closed, judged, lacking, younger, apart = [], [], [], [], []
    events = []
    for lead_id in chosen:
        view = _view_at(target, lead_id, at)
        pinned = versions.of(view.lead)
        created = view.lead.created_at
        if view.lead.standing is not None:
            apart.append(lead_id)
        elif created is not None and instant_us(created, "created") > instant_us(at, "at"):
            younger.append(lead_id)
        elif pinned.lifecycle.state(view.state).terminal:
            closed.append(lead_id)
        elif versions.names.index(pinned.version) >= newer:
            judged.append(lead_id)
        elif view.state not in new.lifecycle.state_names and view.state not in states:
            lacking.append(f"{lead_id} ({view.state})")
        else:
            events.append(
                LeadMigrated(
                    id=f"migrate:{to}:{lead_id}:{at.isoformat()}:{states.get(view.state, '')}",
                    lead=lead_id,
                    at=at,
                    to=to,
                    state=states.get(view.state),
                    by=by,
                )
            )
    problems = [
        _listed(
            apart,
            "are not in the lifecycle: not leads, or converted, merged or erased",
            "choose leads in the lifecycle",
        ),
        _listed(younger, "were created after 'at'", "migrate them from their creation on"),
        _listed(closed, "are closed: their version judged them to the end", "choose open leads"),
        _listed(
            judged,
            f"are already judged by version {to!r} or a newer one",
            "choose leads of an older version",
        ),
        _listed(
            lacking,
            f"are in states version {to!r}'s lifecycle lacks",
            "give the state each takes there: states={'old state': 'new state'}",
        ),
    ]
    found = [problem for problem in problems if problem is not None]
    if found:
        raise UsageError(*found)
    if isinstance(target, Engine):
        return [effect for event in events for effect in target.apply(event)]
    return target.apply_many(events)


def _check_instant(target: Engine | Store, version: Agreement, at: datetime) -> None:
    """``at`` must be in force for the version, and not older than the target's clock allows
    (a migration is an event: one older than the allowed lateness would be refused)."""
    at_us = instant_us(at, "at")
    start = effective_at(version)
    if start is not None and at_us < instant_us(start, "effective"):
        raise UsageError(
            Problem(
                "at",
                at.isoformat(),
                f"is before version {version.version!r} takes effect ({start.isoformat()})",
                "migrate from its effective day on",
            )
        )
    for engine in _engines(target):
        clock = engine.clock
        if clock is not None and at_us < instant_us(clock, "clock") - span_us(
            engine.allowed_lateness
        ):
            raise UsageError(
                Problem(
                    "at",
                    at.isoformat(),
                    f"is older than the clock ({clock.isoformat()}) less the allowed lateness "
                    f"({engine.allowed_lateness})",
                    "migrate from a later instant, e.g. now",
                )
            )


def _view_at(target: Engine | Store, lead: str, at: datetime) -> LeadView:
    """The lead as it stands at ``at`` (where the migration takes it): as of then when that
    is before its engine's clock, else as it is."""
    for engine in _engines(target):
        try:
            now = engine.lead(lead)
        except KeyError:
            continue
        clock = engine.clock
        created = now.lead.created_at
        if (
            clock is not None
            and instant_us(at, "at") < instant_us(clock, "clock")
            and (created is None or created <= at)
        ):
            return engine.lead(lead, as_of=at)
        return now  # (one created after ``at`` is refused as such)
    return target.lead(lead)


def _engines(target: Engine | Store) -> list[Engine]:
    return [target] if isinstance(target, Engine) else target.engines()


def _chosen(
    target: Engine | Store, select: Callable[[LeadView], bool] | Iterable[str]
) -> list[str]:
    if callable(select):
        return [lead for lead in target.leads() if select(target.lead(lead))]
    chosen = list(dict.fromkeys(select))
    missing = [lead for lead in chosen if not _known(target, lead)]
    if missing:
        raise UsageError(
            Problem(
                "select",
                missing[:_NAMED],
                f"names {len(missing)} unknown lead{'s' if len(missing) != 1 else ''}",
                "give the ids of leads the engine holds",
            )
        )
    return chosen


def _known(target: Engine | Store, lead: str) -> bool:
    try:
        target.lead(lead)
    except KeyError:
        return False
    return True


def _listed(leads: list[str], message: str, fix: str) -> Problem | None:
    if not leads:
        return None
    shown = leads[:_NAMED] + ([f"... {len(leads) - _NAMED} more"] if len(leads) > _NAMED else [])
    return Problem("leads", shown, f"{message} ({len(leads)} in all)", fix)
