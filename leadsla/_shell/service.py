"""``leadsla run``: the engine as a long-running service beside a CRM.

One loop, in one thread: read the events that have arrived (JSON Lines, from a pipe or a file
that grows), apply them to the store, deliver the outbox's effects to the host's handlers, and
on a timer advance the store to the wall clock, so that deadlines fire when nothing arrives,
and write a one-line status. ``SIGINT`` and ``SIGTERM`` stop it between two inputs: the input
being applied is finished (its transaction committed), the outbox is delivered once more, and
the store is closed.

Handlers are named as Python entry points, ``module:function`` (the default handler) or
``KEY=module:function`` (for an action name such as ``escalate``, or an effect type such as
``obligation_breached``); see :class:`~leadsla.Dispatcher` for how they are called.
"""

from __future__ import annotations

import importlib
import os
import select
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from types import FrameType
from typing import TextIO

from leadsla._core.effects import Rejected
from leadsla._core.errors import EventError, Problem, StoreError, UsageError, did_you_mean
from leadsla._core.events import Event
from leadsla._shell.dispatch import ACTIONS, Delivered, Dispatcher, EffectHandler, effect_kinds
from leadsla._shell.keeping import Store
from leadsla._shell.render import plural

__all__ = ["LineSource", "handlers_from", "serve", "stop_signals"]

#: The longest the loop waits before it looks at the stop flag again (seconds).
_NAP = 0.2
#: The most effects one delivery pass reads (a receiver that is down leaves many pending).
_BATCH = 1000
_BOM = b"\xef\xbb\xbf"
#: Marks a line that was not UTF-8 (the rest says where).
_NOT_UTF8 = "\x00not utf-8: "


def handlers_from(
    specs: Sequence[str],
) -> tuple[EffectHandler | None, dict[str, EffectHandler]]:
    """The default handler and the keyed ones, from ``module:function`` and
    ``KEY=module:function`` specs."""
    default: EffectHandler | None = None
    keyed: dict[str, EffectHandler] = {}
    known = ACTIONS | effect_kinds()
    for spec in specs:
        key, _, target = spec.rpartition("=")
        module_name, colon, name = target.partition(":")
        if not colon or not module_name or not name:
            raise UsageError(
                Problem(
                    "--handler",
                    spec,
                    "is not an entry point",
                    "write module:function, or KEY=module:function for an action or effect type",
                )
            )
        try:
            found: object = getattr(importlib.import_module(module_name), name)
        except (ImportError, AttributeError) as error:
            raise UsageError(
                Problem(
                    "--handler",
                    spec,
                    f"cannot be loaded ({error})",
                    "check the module is importable (PYTHONPATH) and defines the function",
                )
            ) from None
        if not callable(found):
            raise UsageError(Problem("--handler", spec, "is not callable", "name a function"))
        handler: EffectHandler = found
        if key and key not in known:
            raise UsageError(
                Problem(
                    "--handler",
                    spec,
                    f"is for {key!r}, which is neither an action nor an effect type",
                    f"use one of {', '.join(sorted(known))}{did_you_mean(key, known)}",
                )
            )
        if (key in keyed) if key else (default is not None):
            raise UsageError(
                Problem(
                    "--handler",
                    spec,
                    f"gives {'the default' if not key else repr(key)} a second handler",
                    "give each action or effect type (and the default) one handler",
                )
            )
        if key:
            keyed[key] = handler
        else:
            default = handler
    return default, keyed


class LineSource:
    """Lines that have arrived on a file descriptor (a pipe, or a file that grows), waited
    for up to a timeout; ``closed`` once a pipe's writer has gone. ``offset`` is where the
    descriptor was when reading began (a followed file's byte position). ``path``: the
    followed file's name, so that a file rotated away (renamed, and a new one made under the
    name) or truncated in place is noticed, and the new one read from its start; ``err``
    says so."""

    def __init__(
        self,
        fd: int,
        *,
        follow: bool,
        offset: int = 0,
        number: int = 0,
        path: str | None = None,
        err: TextIO | None = None,
    ) -> None:
        self._fd = fd
        self._follow = follow
        self._buffer = b""
        self._consumed = offset  # bytes before the buffer
        self.closed = False
        self.number = number  # of the last line given
        self._path = path
        self._err = err
        self._opened: int | None = None  # a descriptor this source opened (after a rotation)

    def close(self) -> None:
        """Close what this source opened itself (the descriptor it was given is the
        caller's)."""
        if self._opened is not None:
            os.close(self._opened)
            self._opened = None

    def _rotated(self) -> bool:
        """At the end of a followed file: whether its name now holds another file (rotated
        away), or a shorter one (truncated); if so, read that from its start."""
        if self._path is None:
            return False
        try:
            named = os.stat(self._path)
        except FileNotFoundError:  # rotated away, the new one not made yet: wait
            return False
        held = os.fstat(self._fd)
        if (named.st_dev, named.st_ino) != (held.st_dev, held.st_ino):
            fd = os.open(self._path, os.O_RDONLY)
            self.close()
            self._fd = self._opened = fd
            said = "was rotated"
        elif named.st_size < self._consumed + len(self._buffer):
            os.lseek(self._fd, 0, os.SEEK_SET)
            said = "was truncated"
        else:
            return False
        if self._err is not None:
            self._err.write(f"leadsla run: {self._path} {said}: reading it from its start\n")
        self._buffer, self._consumed, self.number = b"", 0, 0
        return True

    def lines(self, timeout: float) -> Iterator[tuple[int, str, int]]:
        """The complete lines available within ``timeout`` seconds: each with its number
        and the byte position just after it."""
        if self._follow:
            chunk = os.read(self._fd, 1 << 16)
            if not chunk:
                if not self._rotated():
                    time.sleep(timeout)
                return
        else:
            ready, _, _ = select.select([self._fd], [], [], timeout)
            if not ready:
                return
            chunk = os.read(self._fd, 1 << 16)
            if not chunk:
                self.closed = True
                chunk = b"\n" if self._buffer else b""  # a last line without its newline
        self._buffer += chunk
        *complete, self._buffer = self._buffer.split(b"\n")
        for whole in complete:
            self.number += 1
            raw = whole
            if self._consumed == 0 and raw.startswith(_BOM):  # a file's byte-order mark
                raw = raw[len(_BOM) :]
            self._consumed += len(whole) + 1
            if raw.strip():
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as error:  # said as the line's problem, not mended
                    text = _NOT_UTF8 + str(error)
                yield self.number, text, self._consumed


def serve(
    store: Store,
    source: LineSource,
    dispatcher: Dispatcher,
    *,
    name: str,
    tick: float,
    status: float,
    err: TextIO,
    clock: Callable[[], datetime] | None = None,
    mark: str | None = None,
    stop: list[int] | None = None,
) -> int:
    """Run the loop until stopped (a signal) or the source is closed; the exit code.

    A stop is looked at between reads: the lines already read are applied first (they
    were taken from the pipe, and would otherwise be lost). ``mark``: the name under which
    the store keeps, with each event, the byte position after its line and the line's
    number, as ``"POSITION:LINE"`` (a followed file's reader resumes there). ``stop``: the
    list :func:`stop_signals` fills (by default the loop installs its own)."""
    if stop is None:
        with stop_signals() as own:
            return serve(
                store, source, dispatcher, name=name, tick=tick, status=status, err=err,
                clock=clock, mark=mark, stop=own,
            )  # fmt: skip
    now = clock if clock is not None else (lambda: datetime.now(UTC))
    events = refused = 0
    # The clock moves to the wall clock only once the input has no more to give: the lines
    # that waited (written while the service was down) are applied at their own times first.
    next_tick = time.monotonic() if tick > 0 else float("inf")
    next_status = time.monotonic() + status if status > 0 else float("inf")
    next_delivery = 0.0
    while not stop and not source.closed:
        wait = max(0.0, min(_NAP, next_tick - time.monotonic()))
        delivered = idle = False
        read = 0
        for number, line, end in source.lines(wait):
            events += 1
            read += 1
            delivered = True
            try:
                if line.startswith(_NOT_UTF8):
                    raise UsageError(
                        Problem(
                            "line",
                            line[len(_NOT_UTF8) :],
                            "is not UTF-8 text",
                            "send JSON Lines in UTF-8",
                        )
                    )
                event = Event.from_json(line)
                place = None if mark is None else (mark, f"{end}:{number}")
                effects = store.apply(event, mark=place)
            except (EventError, StoreError, UsageError) as error:
                if isinstance(error, StoreError) and error.field == "store":
                    raise  # the store's trouble, not the line's: stop, the line not kept
                refused += 1  # that line only
                err.write(f"{name}:{number}: {error}\n")
                continue
            for effect in effects:
                if isinstance(effect, Rejected):
                    refused += 1
                    err.write(f"{name}:{number}: {effect.reason}\n")
        idle = read == 0
        moment = time.monotonic()
        if moment >= next_tick and idle:
            delivered = bool(store.advance(now())) or delivered
            next_tick = moment + tick
        if delivered or moment >= next_delivery:  # something new, or a retry may be due
            done = dispatcher.deliver(limit=_BATCH, stop=lambda: bool(stop))
            _report(done, err)
            # A full pass may have left more: look again at once.
            next_delivery = 0.0 if _busy(done) else moment + 1.0
        if moment >= next_status:
            err.write(_status(store, events, refused) + "\n")
            err.flush()
            next_status = moment + status
    while not stop:  # the input ended: deliver what it caused (a signal wants a quick stop)
        done = dispatcher.deliver(limit=_BATCH, stop=lambda: bool(stop))
        _report(done, err)
        if not _busy(done):
            break
    err.write(_status(store, events, refused) + (" (stopped)" if stop else "") + "\n")
    return 0


@contextmanager
def stop_signals() -> Iterator[list[int]]:
    """While open, SIGINT and SIGTERM are not fatal: they are noted in the list yielded, for
    the loop to stop at its next look (installed before the store opens, so that a signal
    during a long replay stops the service cleanly once it is open)."""
    stop: list[int] = []

    def stopping(number: int, _: FrameType | None) -> None:
        stop.append(number)

    previous = {s: signal.signal(s, stopping) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _busy(delivered: Delivered) -> bool:
    """Whether a pass did anything (so that another may find more)."""
    d = delivered
    return d.handled + d.unhandled + d.failed + d.dead > 0


def _report(delivered: Delivered, err: TextIO) -> None:
    for problem in delivered.problems:
        err.write(f"leadsla run: delivery failed: {problem}\n")


def _status(store: Store, events: int, refused: int) -> str:
    count, dead = store.outbox_counts()
    line = (
        f"leadsla run: {plural(events, 'event')} read, {refused} refused; "
        f"{plural(count, 'effect')} pending"
    )
    if count:
        [oldest] = store.pending(limit=1)
        line += f" (oldest #{oldest.seq}, {oldest.type} of {oldest.lead})"
    return line + (f", {plural(dead, 'dead letter')}" if dead else "")
