"""Snapshots: an engine's state written as bytes, read back instead of a full replay.

A snapshot is the engine's :class:`~leadsla._core.history.EngineState` (every lead's record,
clocks, journal and tally, the timers, the ids seen, the assignment book) with what the store
adds, pickled. It is only ever read by the store that wrote it, under the same agreement and
settings, and is checked before it is trusted: a header names the format and the leadsla
version, a hash of the agreement and settings, and a checksum of the body. Reading is
restricted to the classes a snapshot holds (leadsla's own, dates, zones and containers), so a
tampered file cannot run code through it.
"""

from __future__ import annotations

import copyreg
import gc
import hashlib
import io
import pickle
import sys
from types import MappingProxyType
from typing import Any, Final
from zoneinfo import ZoneInfo

from leadsla._version import __version__

__all__ = ["SnapshotError", "dump", "load", "proxy", "stamp", "zone"]

#: The layout of a snapshot; a snapshot of another layout is not read (2: a lead record keeps
#: the agreement version a migration moved it to; 3: a clock keeps its tier and calendar; 4:
#: the ledger's fold queue and the ids seen keep times and ids in two queues, not in pairs; 5:
#: the ledger holds quiet leads packed, and keeps the queue of those to pack).
FORMAT: Final = 5


def proxy(mapping: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    """A read-only view of ``mapping`` (how a snapshot holds one: the view type itself
    cannot be pickled)."""
    return MappingProxyType(mapping)


def zone(key: str) -> ZoneInfo:
    """The time zone named ``key`` (how a snapshot holds one, without ``getattr``)."""
    return ZoneInfo(key)


def _zone(value: ZoneInfo) -> tuple[Any, ...]:
    if value.key is None:
        raise pickle.PicklingError("a time zone read from a file has no name to keep")
    return (zone, (value.key,))


_TABLE: Final = copyreg.dispatch_table.copy()
_TABLE[MappingProxyType] = lambda view: (proxy, (dict(view),))
_TABLE[ZoneInfo] = _zone

_SAFE: Final = {
    "builtins": frozenset(
        {"dict", "frozenset", "list", "set", "tuple", "object", "int", "str", "bytes"}
    ),
    "collections": frozenset({"deque", "Counter", "OrderedDict", "defaultdict"}),
    "copyreg": frozenset({"_reconstructor", "__newobj__", "__newobj_ex__"}),
    "datetime": frozenset({"datetime", "date", "time", "timedelta", "timezone"}),
}


class SnapshotError(Exception):
    """A snapshot that cannot be trusted (the store falls back to a full replay)."""


def stamp(settings: str) -> str:
    """What a snapshot must have been made under: the format, leadsla's version, Python's
    (packed leads are ``marshal`` data, whose format may change with Python's version), and
    the agreement and settings (as text)."""
    digest = hashlib.blake2b(settings.encode("utf-8", "surrogatepass"), digest_size=16)
    python = "{}.{}".format(*sys.version_info[:2])
    return f"{FORMAT}:{__version__}:{python}:{digest.hexdigest()}"


def dump(state: Any) -> tuple[bytes, str]:
    """The pickled ``state`` and its checksum."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _TABLE
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        pickler.dump(state)
    finally:
        if paused:
            gc.enable()
    body = buffer.getvalue()
    return body, _checksum(body)


def load(body: bytes, checksum: str) -> Any:
    """The state in ``body``, if its checksum holds and it holds only what a snapshot may."""
    if _checksum(body) != checksum:
        raise SnapshotError("its checksum does not match its content")
    paused = gc.isenabled()
    if paused:  # a snapshot is a million small objects: collecting as they come is quadratic
        gc.disable()
    try:
        return _Restricted(io.BytesIO(body)).load()
    except SnapshotError:
        raise
    except Exception as error:
        raise SnapshotError(f"it cannot be read ({type(error).__name__}: {error})") from None
    finally:
        if paused:
            gc.enable()


def _checksum(body: bytes) -> str:
    return hashlib.blake2b(body, digest_size=16).hexdigest()


class _Restricted(pickle.Unpickler):
    """Finds only what a snapshot holds: leadsla's own classes (defined in the module named,
    not reached through it), the view maker above, and a few standard types."""

    def find_class(self, module: str, name: str) -> Any:
        if "." not in name:
            if name in _SAFE.get(module, ()):
                return super().find_class(module, name)
            if module.startswith("leadsla.") or module == "leadsla":
                found = super().find_class(module, name)
                if found in (proxy, zone) or (
                    isinstance(found, type) and found.__module__.startswith("leadsla")
                ):
                    return found
        raise SnapshotError(f"it names {module}.{name}, which a snapshot never holds")
