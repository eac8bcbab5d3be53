"""toolkit.cluster.completed: a task whose scattered data went with a lost worker is
resubmitted on the data scattered again (CI once lost a run's only copy of the split with
the worker a test killed: the task came back 'cancelled', the run recorded a failure)."""

from __future__ import annotations

import os
import signal

import pytest

distributed = pytest.importorskip("distributed", reason="the cluster extra (dask) is missing")

from toolkit.cluster import SharedData, completed  # noqa: E402


def total_or_die_once(data, marker):
    """The sum of ``data``; the first call kills its own worker (a host lost mid-task)."""
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return sum(data)
    os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.slow
def test_a_task_that_lost_its_data_with_its_worker_is_resubmitted(tmp_path):
    marker = str(tmp_path / "killed")
    # one worker: its death takes the only copy of the scattered data
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        shared = SharedData(client, [1, 2, 3])
        scattered = []

        def submit(key, data):
            scattered.append(data.key)
            return client.submit(total_or_die_once, data, marker, pure=False)

        ended = {key: future for key, future in completed(shared, submit, ["a"])}
        assert os.path.exists(marker)  # the worker did die
        assert ended["a"].result() == 6
        assert len(set(scattered)) == 2  # the data were scattered again


def test_any_other_end_is_the_callers(tmp_path):
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        shared = SharedData(client, [1, 2])
        submitted = []

        def submit(key, data):
            submitted.append(key)
            return client.submit(lambda d, k: 1 / k, data, key, pure=False)

        ended = dict(completed(shared, submit, [0, 2]))
        assert ended[2].result() == 0.5
        with pytest.raises(ZeroDivisionError):
            ended[0].result()
        assert sorted(submitted) == [0, 2]  # an error is not resubmitted
