"""A run folder as pandas DataFrames, for notebooks: ``toolkit.load_run(RUN)``.

Everything here reads what a run wrote (results.csv, parity.csv, placement.csv,
summary.json, manifest.json, studies/<name>/*.csv) and computes nothing new, so a notebook
sees the same numbers as the report. Files an older run did not write read as None;
pandas is imported only when a table is read, so ``import toolkit`` stays light.

Example:
    >>> import toolkit
    >>> run = toolkit.load_run("runs/20261201-201429-vm")  # doctest: +SKIP
    >>> run.accuracy()  # doctest: +SKIP
    runtime  ort-cpu  sklearn
    model
    lr        0.9499   0.9499
    dt        0.8384   0.8384
"""

from __future__ import annotations

import json
import re
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit.schema import COLUMNS

if TYPE_CHECKING:  # pandas is an optional dependency (the `report` extra)
    import pandas as pd

#: Columns read as text; batch_size and threads are integers (empty where they do not apply).
TEXT_COLUMNS = ("model", "dataset", "runtime", "provider", "metric")
INTEGER_COLUMNS = ("batch_size", "threads")
#: The columns without which results.csv is not a results table.
REQUIRED_COLUMNS = ("model", "metric", "value")
#: Latency metrics are named latency_<statistic>_ms (p50, p90, p99, mean, min).
LATENCY_METRIC = re.compile(r"^latency_(?P<statistic>\w+?)_ms$")
PER_CLASS = re.compile(r"_class_\d+$")


def _pandas():
    """pandas, or an ImportError that says which extra installs it."""
    try:
        import pandas
    except ImportError as e:
        raise ImportError(
            "toolkit.load_run needs pandas, which this environment lacks: "
            "pip install 'xrbench[report]'."
        ) from e
    return pandas


def load_run(path: str | Path) -> RunData:
    """Open the run folder ``path`` (written by `xrbench run` or `xrbench study`).

    Tables are read when first used, so opening a run is cheap.

    Args:
        path: the run folder, e.g. ``runs/20261201-201429-vm``.

    Returns:
        A :class:`RunData`; ``.results`` is the tidy results table as a DataFrame.

    Raises:
        FileNotFoundError: ``path`` is not a folder.
        ValueError: the folder holds neither results.csv nor studies/, or its
            manifest.json is not a JSON object.

    Example:
        >>> run = toolkit.load_run("runs/20261201-201429-vm")  # doctest: +SKIP
        >>> run.latency("p50").loc["lr"]  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"Cannot load run {path}: no such folder.")
    if not (path / "results.csv").is_file() and not (path / "studies").is_dir():
        raise ValueError(
            f"Cannot load run {path}: it has neither results.csv (written by `xrbench run`) "
            "nor studies/ (written by `xrbench study`); is it a run folder?"
        )
    return RunData(path, _read_manifest(path / "manifest.json"))


def _read_manifest(path: Path) -> dict:
    """manifest.json as a dict; {} when an old run folder has none."""
    if not path.is_file():
        return {}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"Cannot read {path}: {e}") from e
    if not isinstance(manifest, dict):
        kind = type(manifest).__name__
        raise ValueError(f"Cannot read {path}: expected a JSON object, got {kind}.")
    return manifest


class RunData:
    """One run folder's tables as DataFrames, and the pivots a course report needs.

    Attributes:
        path: the run folder.
        manifest: manifest.json (command, settings, versions, hardware); {} if absent.
    """

    def __init__(self, path: str | Path, manifest: dict | None = None):
        self.path = Path(path)
        self.manifest = dict(manifest or {})

    def __repr__(self) -> str:
        return f"RunData({str(self.path)!r})"

    # --- tables -----------------------------------------------------------------------

    @cached_property
    def results(self) -> pd.DataFrame:
        """results.csv: one row per model x dataset x runtime x batch size x metric.

        Columns are :data:`toolkit.schema.COLUMNS` (``model``, ``dataset``, ``runtime``,
        ``provider``, ``batch_size``, ``threads``, ``metric``, ``value``), in that order,
        then any others the file has. ``batch_size`` and ``threads`` are nullable integers
        (empty for whole-test-set metrics such as accuracy); a column an older run did not
        write is all missing.

        Raises:
            FileNotFoundError: the run has no results.csv (a study-only run: see
                :meth:`study_table`).
            ValueError: results.csv is not a results table.
        """
        path = self.path / "results.csv"
        if not path.is_file():
            studies = ", ".join(self.studies) or "none"
            raise FileNotFoundError(
                f"{path} is missing: only `xrbench run` writes results.csv; this run's "
                f"studies ({studies}) keep their tables under studies/: use "
                "run.study_table(study, table)."
            )
        frame = self._read_csv(path)
        missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(
                f"{path} is not a results table: it lacks the column(s) {', '.join(missing)} "
                f"(expected {', '.join(COLUMNS)})."
            )
        pd = _pandas()
        for column in COLUMNS:
            if column not in frame.columns:
                frame[column] = pd.NA
        for column in TEXT_COLUMNS:
            frame[column] = frame[column].astype("string")
        for column in INTEGER_COLUMNS:
            frame[column] = _integers(frame[column])
        try:
            frame["value"] = pd.to_numeric(frame["value"]).astype("float64")
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path}: column 'value' holds a non-number: {e}") from e
        others = [c for c in frame.columns if c not in COLUMNS]
        return frame[[*COLUMNS, *others]]

    @cached_property
    def parity(self) -> pd.DataFrame | None:
        """parity.csv (each ONNX file against its native model), or None if absent."""
        return self._optional_csv("parity.csv")

    @cached_property
    def placement(self) -> pd.DataFrame | None:
        """placement.csv (share of nodes and kernel time per provider), or None if absent."""
        return self._optional_csv("placement.csv")

    @cached_property
    def summary(self) -> pd.DataFrame | None:
        """summary.json's rows (what `xrbench run` printed), or None if absent."""
        path = self.path / "summary.json"
        if not path.is_file():
            return None
        try:
            rows = json.loads(path.read_text(encoding="utf-8")).get("summary")
        except (OSError, UnicodeDecodeError, ValueError, AttributeError) as e:
            raise ValueError(f"Cannot read {path}: {e}") from e
        if not isinstance(rows, list):
            raise ValueError(f"Cannot read {path}: expected a 'summary' list.")
        return _pandas().DataFrame([r for r in rows if isinstance(r, dict)])

    @property
    def models(self) -> dict[str, Path]:
        """The exported ONNX files, ``{model name: path}`` (models/*.onnx), sorted by name."""
        return {p.stem: p for p in sorted((self.path / "models").glob("*.onnx"))}

    def confusion(self, model: str, runtime: str) -> pd.DataFrame:
        """The confusion matrix of ``model`` on ``runtime``: rows true, columns predicted class.

        Raises:
            FileNotFoundError: the run has no such matrix (the message lists those it has).
        """
        path = self.path / "confusion" / f"{model}__{runtime}.csv"
        if not path.is_file():
            have = sorted(p.stem.replace("__", " on ") for p in path.parent.glob("*.csv"))
            raise FileNotFoundError(
                f"{path} is missing; this run has confusion matrices for: "
                f"{', '.join(have) or 'none'}."
            )
        return self._read_csv(path, index_col=0)

    # --- studies ------------------------------------------------------------------------

    @property
    def studies(self) -> list[str]:
        """The studies this run holds (folders under studies/), sorted by name."""
        root = self.path / "studies"
        if not root.is_dir():
            return []
        return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))

    def study_tables(self, study: str) -> list[str]:
        """The table names of one study (its studies/<study>/*.csv, without .csv), sorted."""
        return sorted(p.stem for p in self._study_dir(study).glob("*.csv"))

    def study_table(self, study: str, table: str) -> pd.DataFrame:
        """One table a study wrote, e.g. ``run.study_table("datasize", "learning_curves")``.

        Raises:
            FileNotFoundError: no such study or table (the message lists what there is).
        """
        path = self._study_dir(study) / f"{table}.csv"
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} is missing; study '{study}' has the tables: "
                f"{', '.join(self.study_tables(study)) or 'none'}."
            )
        return self._read_csv(path)

    def study_section(self, study: str) -> dict:
        """A study's section.json (headline, findings, notes, settings, status).

        Raises:
            FileNotFoundError: no such study, or it has not finished (no section.json).
            ValueError: section.json is not a JSON object.
        """
        path = self._study_dir(study) / "section.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: study '{study}' did not finish.")
        try:
            section = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise ValueError(f"Cannot read {path}: {e}") from e
        if not isinstance(section, dict):
            raise ValueError(f"Cannot read {path}: expected a JSON object.")
        return section

    def _study_dir(self, study: str) -> Path:
        folder = self.path / "studies" / study
        if not folder.is_dir():
            have = ", ".join(self.studies) or "none"
            raise FileNotFoundError(f"{folder} is missing; this run has the studies: {have}.")
        return folder

    # --- pivots -------------------------------------------------------------------------

    def metric(
        self,
        metric: str,
        index: str | list[str] = "model",
        columns: str | list[str] = "runtime",
    ) -> pd.DataFrame:
        """One metric of results.csv as a wide table, rows and columns in the run's order.

        Args:
            metric: a metric name of results.csv, e.g. ``"f1_macro"`` or ``"throughput_ips"``.
            index: the column(s) that label the rows.
            columns: the column(s) that label the columns.

        Raises:
            ValueError: the run has no such metric (the message lists those it has), or two
                rows share one cell (they differ in a column not in ``index``/``columns``).

        Example:
            >>> run.metric("throughput_ips", ["model", "runtime"], "batch_size")  # doctest: +SKIP
        """
        index = [index] if isinstance(index, str) else list(index)
        columns = [columns] if isinstance(columns, str) else list(columns)
        results = self.results
        unknown = [c for c in (*index, *columns) if c not in results.columns or c == "value"]
        if unknown:
            allowed = ", ".join(c for c in results.columns if c != "value")
            raise ValueError(
                f"The 'index' and 'columns' parameters of metric must name columns of "
                f"results.csv ({allowed}). Got {', '.join(map(repr, unknown))}."
            )
        rows = results[results["metric"] == metric]
        if rows.empty:
            # per-class metrics listed once each: recall_class_<i>, not ten names
            names = (PER_CLASS.sub("_class_<i>", m) for m in results["metric"].dropna())
            have = ", ".join(dict.fromkeys(names))
            raise ValueError(
                f"{self.path / 'results.csv'} has no '{metric}' rows; it has: {have or 'none'}."
            )
        return self._wide(rows, index, columns, f"'{metric}' rows")

    def _wide(self, rows: pd.DataFrame, index: list, columns: list, what: str) -> pd.DataFrame:
        """``rows``' values pivoted to index x columns, in the run's order; one row per cell."""
        keys = index + columns
        repeated = rows.duplicated(keys, keep=False)
        if repeated.any():
            groups = rows[repeated].groupby(keys, dropna=False)
            others = [c for c in rows.columns if c not in (*keys, "value")]
            varies = [c for c in others if (groups[c].nunique(dropna=False) > 1).any()]
            raise ValueError(
                f"{self.path / 'results.csv'} has several {what} per {' x '.join(keys)} "
                f"(they differ in {', '.join(varies) or 'nothing'}); "
                "add those columns to index or columns."
            )
        table = rows.pivot(index=index, columns=columns, values="value")
        # pivot sorts its labels; keep the order the run measured them in instead
        row_order = rows[index].drop_duplicates()
        col_order = rows[columns].drop_duplicates()
        table = table.reindex(
            index=_labels(row_order, table.index), columns=_labels(col_order, table.columns)
        )
        table.columns.name = columns[0] if len(columns) == 1 else None
        return table

    def accuracy(self, metric: str = "accuracy") -> pd.DataFrame:
        """Test accuracy per model (rows) and runtime (columns), on the whole test set.

        Args:
            metric: another whole-test-set metric instead, e.g. ``"f1_macro"`` or
                ``"accuracy_ci_low"``.

        Example:
            >>> run.accuracy()  # doctest: +SKIP
            runtime  ort-cpu  sklearn
            model
            lr        0.9499   0.9499
        """
        return self.metric(metric, "model", "runtime")

    def latency(self, percentile: str = "p50") -> pd.DataFrame:
        """Latency in ms per call: rows (model, runtime), columns batch size.

        Args:
            percentile: ``"p50"``, ``"p90"`` or ``"p99"`` (or ``"mean"``, ``"min"``); the run
                reports a percentile only from enough calls, so a cell may be missing.

        Raises:
            ValueError: the run has no latency of that kind (the message lists those it has).

        Example:
            >>> run.latency("p90").loc["lr"]  # doctest: +SKIP
            batch_size       1       32
            runtime
            ort-cpu     0.0134   0.0172
        """
        metrics = self.results["metric"].dropna().unique()
        have = [m.group("statistic") for m in map(LATENCY_METRIC.match, metrics) if m]
        if percentile not in have:
            raise ValueError(
                f"The 'percentile' parameter of latency must be one of "
                f"{', '.join(have) or '(none: this run timed nothing)'}. Got {percentile!r}."
            )
        return self.metric(f"latency_{percentile}_ms", ["model", "runtime"], "batch_size")

    def throughput(self) -> pd.DataFrame:
        """Images per second: rows (model, runtime), columns batch size."""
        return self.metric("throughput_ips", ["model", "runtime"], "batch_size")

    def per_model(self) -> pd.DataFrame:
        """One row per model, one column per metric that belongs to no runtime (parameters,
        flops_per_image, train_time_s, parity_label_agreement, ...).

        Raises:
            ValueError: the run has no such rows, or a model has two values of one metric.

        Example:
            >>> run.per_model()[["parameters", "train_time_s"]]  # doctest: +SKIP
        """
        results = self.results
        rows = results[results["runtime"].isna() & results["batch_size"].isna()]
        if rows.empty:
            raise ValueError(f"{self.path / 'results.csv'} has no per-model rows.")
        table = self._wide(rows, ["model"], ["metric"], "per-model rows")
        table.columns.name = None
        return table

    # --- reading --------------------------------------------------------------------------

    def _optional_csv(self, name: str) -> pd.DataFrame | None:
        path = self.path / name
        return self._read_csv(path) if path.is_file() else None

    @staticmethod
    def _read_csv(path: Path, **options) -> pd.DataFrame:
        pd = _pandas()
        try:
            return pd.read_csv(path, **options)
        except (OSError, UnicodeDecodeError, ValueError) as e:  # pandas' parser errors too
            raise ValueError(f"Cannot read {path}: {type(e).__name__}: {e}") from e


def _integers(column: pd.Series) -> pd.Series:
    """A column of whole numbers (empty where missing) as nullable Int64; other text as is."""
    pd = _pandas()
    numbers = pd.to_numeric(column, errors="coerce")
    if numbers.notna().sum() != column.notna().sum() or (numbers.dropna() % 1 != 0).any():
        return column  # e.g. 'all' in a run written before batch sizes were resolved
    return numbers.astype("Int64")


def _labels(order: pd.DataFrame, present: pd.Index) -> pd.Index:
    """The labels of ``present`` in the order of the rows of ``order``."""
    pd = _pandas()
    if order.shape[1] == 1:
        return pd.Index(order.iloc[:, 0], name=present.name)
    return pd.MultiIndex.from_frame(order)
