"""Where the independent units of work run: in this process, or on a Dask cluster.

`--cluster local:N` starts a LocalCluster of N worker processes on this machine (one task at
a time each); `--cluster tcp://HOST:PORT` connects to a scheduler started elsewhere with
`dask scheduler` and `dask worker tcp://HOST:PORT`. `XRBENCH_CLUSTER` gives the default.
Dask does the scheduling, retries and the dashboard; this module only opens the client.
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
