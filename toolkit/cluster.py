"""Where the independent units of work run: in this process, or on a Dask cluster.

`--cluster local:N` starts a LocalCluster of N worker processes on this machine (one task at
a time each); `--cluster tcp://HOST:PORT` connects to a scheduler started elsewhere with
`dask scheduler` and `dask worker tcp://HOST:PORT`. `XRBENCH_CLUSTER` gives the default.
Dask does the scheduling, retries and the dashboard; this module opens the client and
sends the data that every task takes (:class:`SharedData`, :func:`completed`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

CLUSTER_ENV = "XRBENCH_CLUSTER"
_LOCAL = re.compile(r"local:(\d+)")


@dataclass(frozen=True)
class ClusterSpec:
    """A parsed --cluster value: ``local`` workers to start, or a scheduler ``address``."""

    text: str
    local_workers: int | None = None
    address: str | None = None


def parse_cluster(text: str | None, option: str = "--cluster") -> ClusterSpec | None:
    """``text`` (or $XRBENCH_CLUSTER when None) -> a spec; None or '' runs in this process."""
    if text is None:
        text = os.environ.get(CLUSTER_ENV)
        option = CLUSTER_ENV
    text = (text or "").strip()
    if not text:
        return None
    local = _LOCAL.fullmatch(text)
    if local:
        workers = int(local.group(1))
        if workers < 1:
            raise ValueError(f"{option} {text!r}: local needs at least 1 worker (local:2).")
        return ClusterSpec(text, local_workers=workers)
    if re.fullmatch(r"(tcp|tls|ucx)://[^\s/]+:\d+", text):
        return ClusterSpec(text, address=text)
    raise ValueError(
        f"{option} {text!r} is not a cluster: give local:N (N worker processes on this "
        "machine) or tcp://HOST:PORT (a running `dask scheduler`)."
    )


def _require_distributed():
    try:
        import distributed
    except ImportError as e:
        raise ImportError(
            "--cluster needs Dask's distributed scheduler: pip install 'xrbench[cluster]'"
        ) from e
    return distributed


@contextmanager
def open_cluster(spec: ClusterSpec | None, *, threads_per_worker: int = 1) -> Iterator:
    """A ``distributed.Client`` for ``spec`` (None: yields None, the work runs here).

    A local cluster is started for the block and closed after it; a remote scheduler is
    only connected to. The dashboard link is printed when there is one.
    """
    if spec is None:
        yield None
        return
    distributed = _require_distributed()
    cluster = None
    if spec.local_workers is not None:
        cluster = distributed.LocalCluster(
            n_workers=spec.local_workers,
            threads_per_worker=threads_per_worker,
            processes=True,
            dashboard_address=":0",
        )
        client = distributed.Client(cluster)
    else:
        try:
            client = distributed.Client(spec.address, timeout="20s")
        except OSError as e:
            raise ConnectionError(
                f"--cluster {spec.text}: no Dask scheduler answers there ({e})"
            ) from e
    try:
        link = client.dashboard_link
        if link:
            import sys

            print(f"cluster: {spec.text}, dashboard {link}", file=sys.stderr, flush=True)
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


class SharedData:
    """Data every task takes, scattered to every worker once (and again only if lost).

    Dask reruns the tasks of a lost worker, but it cannot rebuild data it was handed: once
    the last copy of scattered data goes with its worker (the active memory manager drops
    broadcast copies that no waiting task needs), the tasks that take it are cancelled.
    :func:`completed` then scatters the data again and resubmits them.
    """

    def __init__(self, client, data):
        self.client = client
        self.data = data
        self._future = None

    def future(self):
        """The data's future on the cluster, scattered now if it never was or is lost."""
        if self._future is None or self._future.status != "finished":
            # in a list: a list or dict given bare would be scattered item by item
            (self._future,) = self.client.scatter([self.data], broadcast=True, hash=False)
        return self._future


def completed(shared: SharedData, submit, keys, *, attempts: int = 3) -> Iterator[tuple]:
    """``(key, future)`` for every key as its task ends; ``submit(key, data_future)`` makes
    the task of ``key``, with a fresh Dask key each call (a resubmission under a cancelled
    task's key is cancelled again). A task cancelled because ``shared`` was lost is
    resubmitted on the data scattered again (up to ``attempts`` submissions); any other end
    is the caller's to read from the future."""
    from distributed import as_completed

    futures = {submit(key, shared.future()): key for key in keys}
    tries = dict.fromkeys(futures.values(), 1)
    pending = as_completed(futures)
    for future in pending:
        key = futures.pop(future)
        if future.status == "cancelled" and tries[key] < attempts:
            tries[key] += 1
            again = submit(key, shared.future())
            futures[again] = key
            pending.add(again)
            continue
        yield key, future
