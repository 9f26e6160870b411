"""Agreement versions: the rules that were in force when, and which of them judge a lead.

Theory of operation
===================

An SLA is renegotiated: after a quarterly review first touch goes from 4 to 2 business hours.
The new rules must not rewrite the past, and a lead must not be judged by two sets of rules
at once. So an agreement has versions, each with a name (``version``) and the day it takes
effect (``effective``, from midnight on the agreement's wall clock), and :class:`Versions`
holds them oldest first: each takes effect strictly after the one before, and no two share a
name.

**A lead is pinned to the version in force when it was created**: its lifecycle, rules,
owners and obligations all come from that version for its whole life, so a lead's clocks,
moves and handbacks always fit together (an obligation cancelled by a state only the old
lifecycle has, or a clock opened under one deadline and judged under another, cannot happen).
An obligation clock is therefore judged by the version in force for its lead when it opened:
the lead's own. Leads created from the effective instant on take the new version. A lead
moves to a newer version only by an explicit migration.

Pinning depends on the lead's creation time alone, so a replay, a replay split at the change,
and an as-of question all give the same answers.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

from attrs import field, frozen

from leadsla._core.agreement import Agreement
from leadsla._core.calendar import instant_us
from leadsla._core.errors import AgreementError, Problem, UsageError, unknown
from leadsla._core.lead import Lead

__all__ = ["Versions", "effective_at"]


def effective_at(agreement: Agreement) -> datetime | None:
    """The instant an agreement takes effect: midnight of its ``effective`` day on its own
    wall clock (None: in force since always)."""
    day = agreement.effective
    if day is None:
        return None
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(agreement.timezone))


def _agreements(value: Iterable[Agreement] | Agreement | Versions) -> tuple[Agreement, ...]:
    if isinstance(value, Agreement):
        return (value,)
    if isinstance(value, Versions):
        return value.agreements
    return tuple(value)


@frozen
class Versions:
    """An agreement's versions, oldest first (see the module's documentation).

    >>> from datetime import date, datetime
    >>> from zoneinfo import ZoneInfo
    >>> import attrs
    >>> first = Agreement.default()
    >>> faster = attrs.evolve(first, version="2", effective=date(2026, 4, 1))
    >>> versions = Versions([first, faster])
    >>> versions.in_force(datetime(2026, 3, 31, 23, 59, tzinfo=ZoneInfo("Europe/Helsinki"))).version
    '1'
    >>> versions.in_force(datetime(2026, 4, 1, tzinfo=ZoneInfo("Europe/Helsinki"))).version
    '2'
    """

    agreements: tuple[Agreement, ...] = field(converter=_agreements)
    _starts: tuple[int, ...] = field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        problems = _problems(self.agreements)
        if problems:
            raise AgreementError(*problems)
        starts = tuple(
            instant_us(moment, "effective") if (moment := effective_at(a)) else -(2**62)
            for a in self.agreements
        )
        object.__setattr__(self, "_starts", starts)

    @property
    def latest(self) -> Agreement:
        """The newest version."""
        return self.agreements[-1]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(agreement.version for agreement in self.agreements)

    def __iter__(self) -> Iterator[Agreement]:
        return iter(self.agreements)

    def __len__(self) -> int:
        return len(self.agreements)

    def in_force(self, at: datetime) -> Agreement:
        """The version in force at the instant ``at`` (the first one before any took
        effect)."""
        return self.agreements[self.index_at(instant_us(at, "at"))]

    def start_us(self, index: int) -> int:
        """When the version at ``index`` takes effect, in µs since the epoch (the first: a
        time before any)."""
        return self._starts[index]

    def index_at(self, at_us: int) -> int:
        """The position of the version in force at ``at_us`` (µs since the epoch)."""
        return max(0, bisect.bisect_right(self._starts, at_us) - 1)

    def of(self, lead: Lead) -> Agreement:
        """The version that judges ``lead``: the one a migration moved it to, else the one in
        force when it was created."""
        if lead.version is not None:
            return self.named(lead.version)
        created = lead.created_at
        return self.agreements[-1] if created is None else self.in_force(created)

    def named(self, name: str) -> Agreement:
        """The version called ``name``."""
        for agreement in self.agreements:
            if agreement.version == name:
                return agreement
        raise UsageError(unknown("version", name, self.names, "version"))

    def adopt(self, agreement: Agreement) -> Versions:
        """These versions and ``agreement`` as the newest; refused (and nothing changes) when
        it does not take effect after the newest, or reuses a version's name."""
        return Versions((*self.agreements, agreement))


def _problems(agreements: tuple[Agreement, ...]) -> list[Problem]:
    if not agreements:
        return [Problem("versions", [], "is empty", "give at least one agreement")]
    wrong = [
        Problem(f"versions[{index}]", type(item).__name__, "is not an Agreement", "give Agreements")
        for index, item in enumerate(agreements)
        if not isinstance(item, Agreement)  # typed so, but callers may hand over anything
    ]
    if wrong:
        return wrong
    problems = []
    seen: set[str] = set()
    for index, agreement in enumerate(agreements):
        where = f"versions[{index}]"
        if agreement.version in seen:
            problems.append(
                Problem(
                    f"{where}.version",
                    agreement.version,
                    "names an earlier version too",
                    "give each version its own name, e.g. version = '2026-Q2'",
                )
            )
        seen.add(agreement.version)
        if index == 0:
            continue
        earlier = agreements[index - 1]
        start, before = effective_at(agreement), effective_at(earlier)
        if start is None:
            problems.append(
                Problem(
                    f"{where}.effective",
                    None,
                    f"is needed: version {agreement.version!r} follows version "
                    f"{earlier.version!r}, so it must say from when it is in force",
                    "write effective = 2026-04-01 under [agreement]",
                )
            )
        elif before is not None and start <= before:
            problems.append(
                Problem(
                    f"{where}.effective",
                    agreement.effective.isoformat() if agreement.effective else None,
                    f"is not after version {earlier.version!r}'s "
                    f"({earlier.effective.isoformat() if earlier.effective else '-'})",
                    "give a later day: a version takes effect after the one it follows",
                )
            )
    return problems
