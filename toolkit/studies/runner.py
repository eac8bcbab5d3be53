"""`xrbench study`: open (or continue) a run folder and run studies into it, one by one.

A study that fails is recorded in its section.json (status "failed", with the error) and
the next one runs; a study whose section.json says "ok" is skipped when the same run folder
is continued, so an interrupted `study all` picks up where it stopped.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from toolkit.data import load_dataset
from toolkit.manifest import build_manifest
from toolkit.results import RunFolder, atomic_write_json, check_run_name, check_run_root
from toolkit.studies import get_study, list_studies
from toolkit.studies.context import Section, StudyContext
from toolkit.studies.profiles import get_profile

ALL = "all"


@dataclass
class StudyRun:
    """What a `study` call did: the run folder and each study's outcome."""

    path: Path
    outcomes: dict[str, dict] = field(default_factory=dict)
    wall_time_s: float = 0.0

    @property
    def failed(self) -> list[str]:
        """Studies that ended with an error."""
        return [n for n, o in self.outcomes.items() if o["status"] == "failed"]


def resolve_studies(text: str) -> list[str]:
    """'all', one name or a comma-separated list -> study names, each checked."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ValueError("Name a study (or 'all'); see `xrbench study --help`.")
    if ALL in names:
        return list_studies()
    for name in names:
        get_study(name)
    return names


def run_studies(
    names: list[str],
    *,
    dataset: str | None = None,
    profile: str | None = None,
    out: str | Path = "runs",
    run_name: str | None = None,
    into: str | Path | None = None,
    seed: int | None = None,
    data_dir: str | None = None,
    image_size: int | None = None,
    threads: int | None = None,
    force: bool = False,
    progress: bool = True,
    download: bool = True,
    study_settings: Sequence = (),
    cluster: str | None = None,
) -> StudyRun:
    """Run ``names`` in order into a new run folder (or into ``into``).

    ``dataset``, ``profile`` and ``seed`` default to mnist, quick and 0 for a new folder, and
    to the folder's own settings with ``into`` (giving a different value there is an error).
    ``download=False`` fails instead of fetching missing dataset files. ``study_settings``
    are study settings objects (e.g. a ``DatasizeSettings``) that replace the profile's for
    their studies (:meth:`toolkit.studies.profiles.Profile.with_settings`): a small study in
    a notebook; the manifest and each section.json record them. ``cluster`` is a --cluster
    value (``local:N`` or ``tcp://HOST:PORT``; None: $XRBENCH_CLUSTER, unset: this process):
    the studies that plan their trainings (:meth:`StudyContext.measure_many`) train on it,
    one Dask task per model, with the same results as serially; timing stays on this machine.

    Example:
        >>> from toolkit.studies.datasize import DatasizeSettings
        >>> small = DatasizeSettings(sizes=(100, None), families=("lr",), seeds=2,
        ...                          table_sizes=(100, None), min_steps=0)
        >>> run_studies(["datasize"], dataset="digits", profile="tiny",
        ...             study_settings=[small])  # doctest: +SKIP

    Raises:
        ValueError: an unknown study or profile, a ``cluster`` text that is no cluster, a run
            name that is not one folder name, ``into`` holds another dataset's run, or
            ``study_settings`` holds an object that is no study's settings (or two of one type).
        NotADirectoryError: ``out`` (or a folder above it) is a file.
        FileNotFoundError: ``into`` is not a run folder, or the dataset cannot be found.
        KeyboardInterrupt: with ``run_dir`` set to the run folder once it exists.
    """
    from toolkit.cluster import open_cluster, parse_cluster

    started = time.perf_counter()
    for name in names:
        get_study(name)
    cluster_spec = parse_cluster(cluster)  # bad text fails before any data is loaded
    settings = {
        "dataset": dataset,
        "profile": profile,
        "seed": seed,
        "image_size": image_size,
        "data_dir": data_dir,
    }
    folder = None
    if into is not None:
        folder = RunFolder(Path(into))
        settings = _continued_settings(folder.path, settings)
    else:  # a wrong --out or --name fails before any data is loaded
        check_run_root(out)
        if run_name is not None:
            check_run_name(run_name)
    defaults = {"dataset": "mnist", "profile": "quick", "seed": 0}
    settings = {k: defaults.get(k) if v is None else v for k, v in settings.items()}
    dataset, profile, seed = settings["dataset"], settings["profile"], settings["seed"]
    data_dir, image_size = settings["data_dir"], settings["image_size"]
    chosen = get_profile(profile).with_settings(*study_settings)
    with open_cluster(cluster_spec, threads_per_worker=1) as client:  # before a folder is made
        data = load_dataset(dataset, data_dir=data_dir, image_size=image_size, download=download)
        if folder is None:
            folder = RunFolder.create(out, run_name)
            manifest = build_manifest(
                settings={**settings, "kind": "study", **_settings_record(chosen)},
                data={
                    "source": data.source,
                    "n_train": len(data.x_train),
                    "n_test": len(data.x_test),
                    "class_names": list(data.class_names),
                    "image_shape": list(data.image_shape),
                },
                study_order=list_studies(),  # the report's section order, without the registry
            )
            folder.write_manifest(manifest)
        _log(f"run folder: {folder.path}")
        _log(
            f"data: {dataset} from {data.source}: {len(data.x_train):,} train, "
            f"{len(data.x_test):,} test images; profile '{profile}' ({chosen.description})"
        )
        ctx = StudyContext(data, chosen, folder.path, seed=seed, threads=threads, progress=progress)
        result = StudyRun(path=folder.path)
        ctx.client = client
        try:
            for name in names:
                result.outcomes[name] = run_one(ctx, name, force=force)
        except KeyboardInterrupt as e:  # the CLI says how to resume
            e.run_dir = folder.path
            raise
    result.wall_time_s = time.perf_counter() - started
    _record_timing(folder.path, result)
    return result


def run_one(ctx: StudyContext, name: str, *, force: bool = False) -> dict:
    """Run one study into its section folder; a finished one is skipped unless ``force``."""
    entry = get_study(name)
    folder = ctx.section_dir(name)
    index = folder / "section.json"
    if index.is_file() and not force:
        previous = json.loads(index.read_text())
        if previous.get("status") == "ok":
            _log(f"[{name}] done in this run folder already, skipped (--force reruns it)")
            return {"status": "skipped", "wall_time_s": 0.0}
    ctx.study = name
    ctx.failed_remotely.clear()
    ctx.remote = None
    if ctx.client is not None:
        from toolkit.studies.remote import Execution

        ctx.remote = Execution(cluster=_cluster_text(ctx.client))
    section = Section(folder, name, entry.title, entry.description)
    _log(f"[{name}] {entry.title} ...")
    started = time.perf_counter()
    status, error = "ok", ""
    try:
        entry.run(ctx, section)
    except Exception as e:  # one study's failure is recorded; the others still run
        status, error = "failed", f"{type(e).__name__}: {e}"
        _log(f"[{name}] FAILED: {error}")
        traceback.print_exc(file=sys.stderr)
    wall = time.perf_counter() - started
    settings = {"profile": ctx.profile.name, "seed": ctx.seed, **_settings_record(ctx.profile)}
    if ctx.remote is not None:  # which machine trained and which timed (the client)
        settings["execution"] = ctx.remote.record()
        section.note(ctx.remote.note())
    section.save(status=status, wall_time_s=wall, settings=settings, error=error)
    _log(f"[{name}] {status} in {wall:.1f} s")
    return {"status": status, "wall_time_s": wall, "error": error}


def _cluster_text(client) -> str:
    """The scheduler's address, and 'local' where this call started the cluster."""
    address = client.scheduler.address
    local = type(getattr(client, "cluster", None)).__name__ == "LocalCluster"
    return f"local:{len(client.scheduler_info()['workers'])} ({address})" if local else address


def _settings_record(profile) -> dict:
    """{"study_settings": {type name: fields}} where the profile carries study settings."""
    record = profile.settings_record() if getattr(profile, "study_settings", ()) else {}
    return {"study_settings": record} if record else {}


def _continued_settings(path: Path, asked: dict) -> dict:
    """The folder's settings, with what this call asks for checked against them."""
    manifest_path = path / "manifest.json"
    if not manifest_path.is_file():
        raise FileNotFoundError(f"--into {path}: no manifest.json there; it is not a run folder.")
    previous = json.loads(manifest_path.read_text()).get("settings", {})
    if previous.get("kind") != "study":
        raise ValueError(
            f"--into {path}: that folder holds an `xrbench run`, not studies; "
            "start a new run folder instead."
        )
    settings = dict(asked)
    for key, value in asked.items():
        if value is None:
            settings[key] = previous.get(key)
        elif key in ("dataset", "profile", "seed") and previous.get(key) != value:
            raise ValueError(
                f"--into {path}: that run used {key}={previous.get(key)!r}, this call asks "
                f"for {key}={value!r}; start a new run folder instead."
            )
    return settings


def _record_timing(path: Path, result: StudyRun) -> None:
    timings_path = path / "studies" / "timings.json"
    timings = json.loads(timings_path.read_text()) if timings_path.is_file() else {}
    for name, outcome in result.outcomes.items():
        if outcome["status"] != "skipped":
            timings[name] = outcome["wall_time_s"]
    timings["_last_call_wall_time_s"] = result.wall_time_s
    atomic_write_json(timings_path, timings)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
