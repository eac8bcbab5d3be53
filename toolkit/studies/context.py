"""What every study gets: the data, the profile, a section to write, and `measure`.

`measure` is the one way a study gets a number about a model: it goes through the same
lifecycle as `xrbench run` (:mod:`toolkit.measure`: train, export once with parity, open
each runtime, evaluate with the shared harness), so accuracy and latency always come from
the ONNX file, never from the framework it was trained in.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from toolkit.data import balanced_subset, train_val_split
from toolkit.data.load import Dataset
from toolkit.data.splits import Split
from toolkit.models import model_slug
from toolkit.results import atomic_write_bytes, atomic_write_json, atomic_write_text, csv_text
from toolkit.studies.profiles import Profile

#: The default of a size argument: take the profile's size.
FROM_PROFILE = "profile"

#: The suffix of a split key whose validation part was removed (:meth:`StudyContext.without_val`).
HELD_OUT = ",val-held-out"

#: Figures are saved at this resolution: sharp in the HTML report, small enough to embed.
FIGURE_DPI = 110


@dataclass
class Measured:
    """One model trained, exported and evaluated from its ONNX file on ort-cpu.

    Attributes:
        spec: the zoo spec trained (e.g. "cnn:stages=2").
        tag: the study's name for this experiment (e.g. "aug=hflip"); equals spec by default.
        status: the training outcome: "ok", "early_stopped" or "diverged". A diverged
            model is not exported; its metrics are None.
        onnx_path: the exported file.
        accuracy: test accuracy of the ONNX file.
        quality: every metric of :func:`toolkit.harness.metrics.classification_metrics`
            (accuracy, its CI, macro and per-class precision/recall/F1).
        confusion: the test confusion matrix.
        labels, scores: the ONNX file's outputs on the test set.
        parity: the parity dict of :func:`exporters.check_parity` (native vs ONNX).
        latency_by_runtime: p50 latency in ms per runtime, then per batch size: ort-cpu and
            every other runtime ``measure`` was asked for that could run this model here
            (other ONNX runtimes on the same file, the native framework on the trained model);
            empty when no batch size was timed. ``latency_ms`` is its ort-cpu part.
        train_time_s, size_mb, parameters, flops_per_image: cost of the model.
        history, curve: the engine's per-epoch and per-N-batches records (PyTorch models).
        trained: the native trained model (for activations, re-use; not saved).
        extra: more accuracies measured from the ONNX file, e.g. {"train": 0.99, "val": 0.98}.
    """

    spec: str
    tag: str
    status: str
    onnx_path: Path | None = None
    accuracy: float | None = None
    quality: dict = field(default_factory=dict)
    confusion: np.ndarray | None = None
    labels: np.ndarray | None = None
    scores: np.ndarray | None = None
    parity: dict = field(default_factory=dict)
    latency_by_runtime: dict[str, dict[int, float]] = field(default_factory=dict)
    train_time_s: float = 0.0
    size_mb: float | None = None
    parameters: int | None = None
    flops_per_image: int | None = None
    history: list[dict] = field(default_factory=list)
    curve: list[dict] = field(default_factory=list)
    trained: object = None
    extra: dict = field(default_factory=dict)

    @property
    def latency_ms(self) -> dict[int, float]:
        """p50 latency in ms per batch size on ort-cpu (empty when none was timed)."""
        return self.latency_by_runtime.get("ort-cpu", {})

    @property
    def ok(self) -> bool:
        """Whether the model trained to a usable state and was measured."""
        return self.accuracy is not None


class Section:
    """One study's output folder and the report section it becomes.

    Everything is written atomically; `save` writes section.json last, so a section.json
    means the study finished and its files are all there.
    """

    def __init__(self, folder: Path, name: str, title: str, description: str):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.name, self.title, self.description = name, title, description
        self.figures: list[dict] = []
        self.tables: list[dict] = []
        self.findings: list[str] = []
        self.headline: str = ""
        self.notes: list[str] = []

    def table(
        self, name: str, rows: list[dict], caption: str, columns: list[str] | None = None
    ) -> Path:
        """Write ``name``.csv and list it in the section (the report shows it as a table)."""
        columns = list(columns or (rows[0].keys() if rows else []))
        path = atomic_write_text(self.folder / f"{name}.csv", csv_text(rows, columns))
        self.tables.append({"file": path.name, "caption": caption, "rows": len(rows)})
        return path

    def figure(self, name: str, fig, caption: str) -> Path:
        """Save a matplotlib figure as ``name``.png, close it, and list it in the section."""
        import io

        import matplotlib.pyplot as plt

        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=FIGURE_DPI, bbox_inches="tight")
        plt.close(fig)
        path = atomic_write_bytes(self.folder / f"{name}.png", buffer.getvalue())
        self.figures.append({"file": path.name, "caption": caption})
        return path

    def finding(self, text: str) -> None:
        """A sentence read from the measured numbers (never a number the run did not make)."""
        self.findings.append(text)

    def note(self, text: str) -> None:
        """A caveat: a skipped part, a missing optional package, a profile's shortcut."""
        self.notes.append(text)

    def save(self, *, status: str, wall_time_s: float, settings: dict, error: str = "") -> Path:
        """Write section.json, the index the report reads."""
        return atomic_write_json(
            self.folder / "section.json",
            {
                "name": self.name,
                "title": self.title,
                "description": self.description,
                "status": status,
                "error": error,
                "wall_time_s": wall_time_s,
                "settings": settings,
                "headline": self.headline,
                "findings": self.findings,
                "notes": self.notes,
                "figures": self.figures,
                "tables": self.tables,
            },
        )


class StudyContext:
    """The data, profile and run folder one `xrbench study` call works with.

    Args:
        data: the loaded dataset (official split).
        profile: sizes and budgets (see :mod:`toolkit.studies.profiles`).
        run_dir: the run folder; each study writes under ``studies/<name>/``.
        seed: the base seed; every randomised step derives from it.
        threads: onnxruntime and torch threads.
        progress: show progress bars.
        client: a ``distributed.Client`` that :meth:`measure_many` sends training to; None
            trains everything here, one model after the other.
    """

    def __init__(
        self,
        data: Dataset,
        profile: Profile,
        run_dir: str | Path,
        *,
        seed: int = 0,
        threads: int | None = None,
        progress: bool = True,
        client=None,
    ):
        from toolkit.harness.runtimes import default_threads

        self.data, self.profile, self.run_dir = data, profile, Path(run_dir)
        self.seed, self.threads = seed, threads or default_threads()
        self.train_threads = threads  # as asked: None lets each framework pick, as before
        self.progress = progress
        self.client = client
        self._cache: dict[tuple, Measured] = {}
        #: how each split was drawn (by its key), so a worker can draw the same one
        self._recipes: dict[str, dict] = {}
        #: what the cluster did for the current study (see toolkit.studies.remote)
        self.remote = None
        #: cache key -> the error of the cluster task that measured it (raised by measure)
        self.failed_remotely: dict[tuple, str] = {}
        self.study: str = ""

    # --- data ---------------------------------------------------------------------------

    @property
    def dataset(self) -> str:
        """The dataset's name, written on every row."""
        return self.data.name

    @property
    def class_names(self) -> tuple[str, ...]:
        """Class names, for legends and tables."""
        return self.data.class_names

    def settings(self, table: dict[str, dict]) -> dict:
        """A study's settings for this profile, from its {profile name: settings} table."""
        try:
            return dict(table[self.profile.name])
        except KeyError:
            raise ValueError(
                f"Study '{self.study}' has no settings for profile '{self.profile.name}'; "
                f"it knows {', '.join(table)}."
            ) from None

    def split(
        self,
        train_size: int | None | str = FROM_PROFILE,
        test_size: int | None | str = FROM_PROFILE,
        *,
        seed: int | None = None,
        val_fraction: float | None = None,
    ) -> Split:
        """A balanced, seeded draw from the official split (the whole split where a size is None
        or at least the split's size); the validation part comes out of the training draw.

        Sizes and ``val_fraction`` default to the profile's.
        """
        seed = self.seed if seed is None else seed
        if train_size == FROM_PROFILE:
            train_size = self.profile.train_size
        if test_size == FROM_PROFILE:
            test_size = self.profile.test_size
        val_fraction = self.profile.val_fraction if val_fraction is None else val_fraction
        x_train, y_train = self._draw(self.data.x_train, self.data.y_train, train_size, seed)
        x_test, y_test = self._draw(self.data.x_test, self.data.y_test, test_size, seed)
        x_fit, y_fit, x_val, y_val = train_val_split(x_train, y_train, val_fraction, seed)
        key = f"train={len(x_train)},test={len(x_test)},val={val_fraction},seed={seed}"
        self._recipes[key] = {
            "train_size": train_size,
            "test_size": test_size,
            "seed": seed,
            "val_fraction": val_fraction,
        }
        return Split(x_fit, y_fit, x_val, y_val, x_test, y_test, key)

    def recipe(self, split: Split) -> dict | None:
        """The :meth:`split` arguments that drew ``split`` (None: it was not drawn here), so
        that a worker holding the same data draws the same images in the same order."""
        recipe = self._recipes.get(split.key)
        return None if recipe is None else dict(recipe)

    def without_val(self, split: Split) -> Split:
        """``split`` with its validation part removed, so that training never sees it (no
        best epoch is picked on it); measure its accuracy with ``also_on`` instead."""
        empty = split.x_val[:0], split.y_val[:0]
        return dataclasses.replace(
            split, x_val=empty[0], y_val=empty[1], key=f"{split.key}{HELD_OUT}"
        )

    def _draw(self, x: np.ndarray, y: np.ndarray, size: int | None, seed: int):
        if size is None or size >= len(x):
            return x, y
        per_class = max(1, size // self.data.num_classes)
        smallest = int(np.bincount(y, minlength=self.data.num_classes).min())
        return balanced_subset(x, y, min(per_class, smallest), seed)

    # --- output ---------------------------------------------------------------------------

    def section_dir(self, study: str) -> Path:
        """studies/<study>/ in the run folder."""
        return self.run_dir / "studies" / study

    def log(self, message: str) -> None:
        """A progress note on stderr, prefixed with the study's name."""
        print(f"[{self.study or 'study'}] {message}", file=sys.stderr, flush=True)

    # --- models -----------------------------------------------------------------------------

    def train_options(self, spec: str, train_options: dict | None) -> dict:
        """The TrainConfig knobs ``spec`` trains with: the profile's epochs unless given;
        none for a framework that does not train in epochs."""
        from toolkit.frameworks import framework_of

        if not framework_of(spec).trains_in_epochs:
            return {}
        return {"epochs": self.profile.epochs, **(train_options or {})}

    def measure_key(
        self,
        spec: str,
        split: Split,
        *,
        seed: int | None = None,
        train_options: dict | None = None,
        augment_name: str = "",
        batch_sizes: tuple = (),
        also_on: dict | None = None,
        runtimes: tuple[str, ...] = ("ort-cpu",),
        hold_out_val: bool = False,
        **_others,
    ) -> tuple:
        """What makes two :meth:`measure` calls (the same arguments) the same experiment."""
        key = split.key + HELD_OUT if hold_out_val else split.key
        return (
            spec,
            key,
            self.seed if seed is None else seed,
            json.dumps(self.train_options(spec, train_options), sort_keys=True),
            augment_name,
            tuple(batch_sizes),
            tuple(sorted(also_on or {})),
            tuple(runtimes),
        )

    def measure_many(self, calls: Iterable[dict]) -> None:
        """Measure ahead the :meth:`measure` calls a study is about to make (each a dict of
        its arguments), in parallel on the cluster; the study's own loop then finds them in
        the cache. Without a cluster this does nothing, so a serial study is exactly the
        loop it always was. Calls that time latency or keep the trained model run here, in
        that loop (the cluster never times: see :mod:`toolkit.studies.remote`). ``calls`` may
        be a generator: it is not even iterated without a cluster."""
        if self.client is None:
            return
        from toolkit.studies.remote import measure_on_cluster

        measure_on_cluster(self, calls)

    def measure(
        self,
        spec: str,
        split: Split,
        *,
        tag: str | None = None,
        seed: int | None = None,
        train_options: dict | None = None,
        augment=None,
        augment_name: str = "",
        batch_sizes: tuple = (),
        also_on: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
        keep_trained: bool = False,
        runtimes: tuple[str, ...] = ("ort-cpu",),
        hold_out_val: bool = False,
    ) -> Measured:
        """Train ``spec`` on ``split``, export it, and evaluate the ONNX file with the harness.

        Args:
            spec: a zoo spec, e.g. "lr" or "cnn:stages=2,width=16".
            split: the data (see :meth:`split`).
            tag: the study's name for this experiment (default: the spec); names the file.
            seed: training seed (default: the context's seed).
            train_options: TrainConfig knobs for PyTorch models; the profile's epochs are the
                default.
            augment: an engine augmentation hook (PyTorch models only).
            augment_name: names ``augment`` in the cache key and the file's metadata.
            batch_sizes: batch sizes whose latency to time on ort-cpu (none by default).
            also_on: more sets to measure accuracy on, e.g. {"train": (x, y)}, or a part of
                ``split`` by name ({"val": "val"}: its x_val, y_val); results in
                ``Measured.extra``. Parts by name let a cluster worker draw them itself.
            keep_trained: keep the native model on the result (for activations).
            runtimes: runtimes to time ``batch_sizes`` on, into ``latency_by_runtime``;
                accuracy always comes from ort-cpu. Other ONNX runtimes run the same file,
                a native runtime runs the trained model where it is the model's framework;
                one that is unavailable here, or cannot run this model, is skipped.
            hold_out_val: train on ``split`` without its validation part
                (:meth:`without_val`); ``also_on`` parts by name still see all of ``split``.

        Returns:
            The :class:`Measured` result; cached, so the same experiment in two studies of one
            `study all` call is trained once.
        """
        from toolkit import measure
        from toolkit.harness import RuntimeUnavailable
        from toolkit.harness.evaluate import predict_all
        from toolkit.harness.metrics import classification_metrics

        also_on = {
            name: (getattr(split, f"x_{part}"), getattr(split, f"y_{part}"))
            if isinstance(part, str)
            else part
            for name, part in (also_on or {}).items()
        }
        if hold_out_val:
            split = self.without_val(split)
        seed = self.seed if seed is None else seed
        tag = tag or spec
        options = self.train_options(spec, train_options)
        key = self.measure_key(
            spec,
            split,
            seed=seed,
            train_options=train_options,
            augment_name=augment_name,
            batch_sizes=batch_sizes,
            also_on=also_on,
            runtimes=runtimes,
        )
        if key in self.failed_remotely:  # a cluster task of this experiment failed
            raise RuntimeError(self.failed_remotely[key])
        if key in self._cache and (self._cache[key].trained is not None or not keep_trained):
            return self._cache[key]
        trained = measure.train(
            spec,
            split,
            dataset=self.dataset,
            class_names=self.class_names,
            seed=seed,
            train_options=options or None,
            progress=self.progress,
            augment=augment,
            threads=self.train_threads,
        )
        result = Measured(
            spec=spec,
            tag=tag,
            status=trained.status,
            train_time_s=trained.train_time_s,
            history=trained.history,
            curve=trained.curve,
        )
        if trained.status == "diverged":
            self.log(f"{tag}: training diverged; not exported")
            self._cache[key] = result
            return result
        # the same lifecycle as `xrbench run`: the file is written once, with its parity
        exported = measure.export_once(
            trained,
            self.section_dir(self.study) / "models" / f"{model_slug(tag)}.onnx",
            split,
            metadata={"study": self.study, "augmentation": augment_name},
            save=False,
            threads=self.threads,
            model=tag,
            num_classes=self.data.num_classes,
        )
        timed = [measure.REFERENCE_RUNTIME]
        if batch_sizes:
            timed += [r for r in runtimes if r != measure.REFERENCE_RUNTIME]

        def skipped(runtime: str, error: Exception) -> None:
            self.log(f"{tag}: not timed on {runtime}: {error}")

        measurement = measure.measure_runtimes(
            exported,
            timed,
            split,
            model=tag,
            dataset=self.dataset,
            num_classes=self.data.num_classes,
            batch_sizes=batch_sizes,
            budget_s=self.profile.latency_budget_s,
            threads=self.threads,
            trained=trained,
            tolerate=(RuntimeUnavailable,),
            on_failure=skipped,
        )
        evaluation = exported.quality
        result.parity = exported.parity
        result.onnx_path = exported.path
        result.accuracy = float(evaluation.quality["accuracy"])
        result.quality = evaluation.quality
        result.confusion = evaluation.confusion
        result.labels, result.scores = evaluation.labels, evaluation.scores
        result.latency_by_runtime = {
            r.runtime: p50_by_batch(r.evaluation)
            for r in measurement.results
            if r.runtime == measure.REFERENCE_RUNTIME or r.evaluation.latency
        }
        result.size_mb = exported.size_mb
        result.parameters = exported.complexity.get("parameters")
        result.flops_per_image = exported.complexity.get("flops_per_image")
        for name, (x, y) in (also_on or {}).items():
            labels, _ = predict_all(exported.reference.predict, x)
            result.extra[name] = float(
                classification_metrics(y, labels, self.data.num_classes)[0]["accuracy"]
            )
        if keep_trained:
            result.trained = trained
        self.log(
            f"{tag}: accuracy {result.accuracy:.4f} (ONNX, {len(split.x_test):,} test images), "
            f"trained in {trained.train_time_s:.1f} s"
        )
        self._cache[key] = result
        return result


def rounded(value, digits: int = 4) -> float | None:
    """``value`` rounded for a table cell; None (an empty cell) stays None."""
    return None if value is None else round(float(value), digits)


def p50_by_batch(evaluation) -> dict[int, float]:
    """p50 latency in ms per batch size of one harness evaluation."""
    return {r.batch_size: r.stats()["latency_p50_ms"] for r in evaluation.latency}
