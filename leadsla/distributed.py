"""Replay years of history on a cluster: partitioned replay on Dask, with one process's results.

Needs the ``dask`` extra (``pip install 'leadsla[dask]'``: Dask distributed and pyarrow).

A lead's record, clocks and effects depend on its own events, the agreement and the engine's
clock, so a log split by lead replays in parallel and gives, effect for effect, what one process
gives, provided each partition sees the clock one process had (a short serial scan over the
events' times works it out). :func:`replay` does that on a Dask cluster, a
:class:`distributed.LocalCluster` on a laptop or a real one, unchanged:

.. code-block:: python

    from distributed import Client, LocalCluster
    from leadsla import Agreement
    from leadsla.distributed import replay

    with LocalCluster(n_workers=2, threads_per_worker=1) as cluster, Client(cluster) as client:
        result = replay(["2025.jsonl", "2026.jsonl"], Agreement.from_toml("sla.toml"),
                        client=client, scorecard=True, out="replayed/")
        print(result.rejected, result.totals.outcomes)
        cards = result.scorecard()

Without a client, the same stages run in this process, one partition after the other (for
tests, and to check a log before sending it to a cluster). See the explanation *Why a
partitioned replay is exact* and the how-to *Replay years of history on a cluster*.
"""

from __future__ import annotations

from leadsla._shell.partitioned import (
    OwnersFromTheLog,
    PartitionedReplay,
    order_dependent,
)
from leadsla._shell.partitioned import replay_partitioned as replay
from leadsla._shell.report import ScorecardParts, scorecard_of_parts, scorecard_parts
from leadsla._shell.totals import Totals

__all__ = [
    "OwnersFromTheLog",
    "PartitionedReplay",
    "ScorecardParts",
    "Totals",
    "order_dependent",
    "replay",
    "scorecard_of_parts",
    "scorecard_parts",
]
