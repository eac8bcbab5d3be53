"""toolkit.load_run: a run folder as DataFrames, on small hand-written run folders.

Sections: the results table, the pivots, the other tables (parity, placement, summary,
models, confusion), study runs, and folders that are not (or are old) run folders.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pd = pytest.importorskip("pandas", reason="toolkit.load_run needs pandas (the report extra)")

import toolkit  # noqa: E402
from toolkit.run_data import RunData, load_run  # noqa: E402
from toolkit.schema import COLUMNS  # noqa: E402

# Models deliberately not in alphabetical order: the pivots keep the run's order.
RESULTS = """\
model,dataset,runtime,provider,batch_size,threads,metric,value
lr,digits,,,,,train_time_s,5.9
lr,digits,ort-cpu,CPUExecutionProvider,,2,accuracy,0.95
lr,digits,ort-cpu,CPUExecutionProvider,,2,f1_macro,0.94
lr,digits,ort-cpu,CPUExecutionProvider,1,2,latency_p50_ms,0.013
lr,digits,ort-cpu,CPUExecutionProvider,1,2,latency_p90_ms,0.020
lr,digits,ort-cpu,CPUExecutionProvider,32,2,latency_p50_ms,0.017
lr,digits,ort-cpu,CPUExecutionProvider,32,2,throughput_ips,288000.0
lr,digits,sklearn,sklearn,,2,accuracy,0.95
lr,digits,sklearn,sklearn,1,2,latency_p50_ms,0.36
lr,digits,sklearn,sklearn,32,2,latency_p50_ms,0.45
dt,digits,ort-cpu,CPUExecutionProvider,,2,accuracy,0.84
dt,digits,ort-cpu,CPUExecutionProvider,1,2,latency_p50_ms,0.026
dt,digits,ort-cpu,CPUExecutionProvider,32,2,latency_p50_ms,0.035
dt,digits,sklearn,sklearn,,2,accuracy,0.83
dt,digits,sklearn,sklearn,1,2,latency_p50_ms,0.39
dt,digits,sklearn,sklearn,32,2,latency_p50_ms,0.35
"""


def write_run(folder: Path, results: str | None = RESULTS, **files: str) -> Path:
    """A run folder with ``results`` as results.csv and ``files`` (name -> text) beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    if results is not None:
        (folder / "results.csv").write_text(results)
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


@pytest.fixture
def run(tmp_path) -> RunData:
    folder = write_run(
        tmp_path / "run",
        **{
            "manifest.json": json.dumps({"settings": {"dataset": "digits"}, "seed": 0}),
            "parity.csv": "model,dataset,n_samples,label_agreement\nlr,digits,359,1.0\n",
            "placement.csv": "model,runtime,provider,node_share,time_share\n"
            "lr,ort-cpu,CPUExecutionProvider,1.0,1.0\n",
            "summary.json": json.dumps({"summary": [{"model": "lr", "accuracy": 0.95}]}),
            "models/lr.onnx": "",
            "models/lr.skops": "",
            "models/dt.onnx": "",
            "confusion/lr__ort-cpu.csv": "true\\pred,0,1\n0,5,1\n1,0,4\n",
        },
    )
    return load_run(folder)


# --- the results table --------------------------------------------------------------------


class TestResults:
    def test_columns_in_schema_order_with_types(self, run):
        frame = run.results
        assert tuple(frame.columns) == COLUMNS
        assert len(frame) == RESULTS.count("\n") - 1
        assert str(frame["batch_size"].dtype) == "Int64"
        assert str(frame["threads"].dtype) == "Int64"
        assert frame["value"].dtype == "float64"
        assert frame["batch_size"].isna().sum() == 6  # whole-test-set rows have no batch size
        assert frame.loc[0, "runtime"] is pd.NA  # train_time_s belongs to no runtime

    def test_extra_columns_follow_the_schema(self, tmp_path):
        text = RESULTS.replace("metric,value\n", "metric,value,round\n", 1)
        text = text.replace("\n", ",1\n").replace("metric,value,round,1\n", "metric,value,round\n")
        frame = load_run(write_run(tmp_path / "r", text)).results
        assert list(frame.columns) == [*COLUMNS, "round"]

    def test_reads_what_the_run_folder_writes(self, tmp_path):
        from toolkit.results import RunFolder

        folder = RunFolder.create(tmp_path, "written")
        base = {"model": "lr", "dataset": "digits", "runtime": "ort-cpu", "threads": 2}
        folder.write_results(
            [
                {**base, "provider": "CPUExecutionProvider", "metric": "accuracy", "value": 0.9},
                {**base, "batch_size": 256, "metric": "latency_p50_ms", "value": 1 / 3},
            ]
        )
        folder.write_parity([{"model": "lr", "dataset": "digits", "label_agreement": 1.0}])
        run = load_run(folder.path)
        assert run.results["batch_size"].tolist() == [pd.NA, 256]
        assert run.latency().loc[("lr", "ort-cpu"), 256] == 1 / 3  # repr() floats round-trip
        assert run.accuracy().loc["lr", "ort-cpu"] == 0.9
        assert run.parity.loc[0, "label_agreement"] == 1.0 and run.placement is None

    def test_the_toolkit_entry_point_is_load_run(self):
        assert toolkit.load_run is load_run and "load_run" in dir(toolkit)
        with pytest.raises(AttributeError, match=r"no attribute 'load_runs'"):
            _ = toolkit.load_runs


# --- pivots ------------------------------------------------------------------------------


class TestPivots:
    def test_accuracy_is_model_by_runtime_in_run_order(self, run):
        table = run.accuracy()
        assert list(table.index) == ["lr", "dt"]
        assert list(table.columns) == ["ort-cpu", "sklearn"]
        assert table.index.name == "model" and table.columns.name == "runtime"
        assert table.loc["dt", "sklearn"] == pytest.approx(0.83)

    def test_accuracy_of_another_metric_leaves_gaps_missing(self, run):
        table = run.accuracy("f1_macro")
        assert list(table.index) == ["lr"] and list(table.columns) == ["ort-cpu"]

    def test_latency_is_model_runtime_by_batch(self, run):
        table = run.latency()
        assert list(table.index) == [
            ("lr", "ort-cpu"),
            ("lr", "sklearn"),
            ("dt", "ort-cpu"),
            ("dt", "sklearn"),
        ]
        assert list(table.columns) == [1, 32] and table.columns.name == "batch_size"
        assert table.loc[("dt", "sklearn"), 32] == pytest.approx(0.35)
        assert table.loc["lr"].loc["sklearn", 1] == pytest.approx(0.36)

    def test_latency_percentile_reported_only_where_measured(self, run):
        table = run.latency("p90")
        assert table.shape == (1, 1) and table.iloc[0, 0] == pytest.approx(0.020)

    def test_unknown_percentile_lists_those_measured(self, run):
        with pytest.raises(ValueError, match=r"one of p50, p90\. Got 'p95'"):
            run.latency("p95")

    def test_throughput(self, run):
        assert run.throughput().loc[("lr", "ort-cpu"), 32] == pytest.approx(288000.0)

    def test_metric_with_other_axes(self, run):
        table = run.metric("accuracy", index="runtime", columns="model")
        assert list(table.index) == ["ort-cpu", "sklearn"] and list(table.columns) == ["lr", "dt"]

    def test_per_model_metrics(self, run):
        table = run.per_model()
        assert list(table.index) == ["lr"] and list(table.columns) == ["train_time_s"]
        assert table.loc["lr", "train_time_s"] == pytest.approx(5.9)

    def test_axes_must_be_columns(self, run):
        with pytest.raises(ValueError, match=r"must name columns of results\.csv .* Got 'family'"):
            run.metric("accuracy", index="family")

    def test_unknown_metric_names_the_file_and_the_metrics(self, run):
        with pytest.raises(ValueError, match=r"results\.csv has no 'top5' rows; it has: train"):
            run.metric("top5")

    def test_per_class_metrics_are_listed_once(self, tmp_path):
        rows = "".join(f"lr,digits,ort-cpu,,,,recall_class_{i},0.9\n" for i in range(10))
        run = load_run(write_run(tmp_path / "r", RESULTS + rows))
        with pytest.raises(ValueError, match=r"throughput_ips, recall_class_<i>\.$"):
            run.metric("top5")

    def test_two_rows_per_cell_name_the_column_that_differs(self, tmp_path):
        text = RESULTS + "lr,mnist,ort-cpu,CPUExecutionProvider,,2,accuracy,0.92\n"
        run = load_run(write_run(tmp_path / "r", text))
        with pytest.raises(ValueError, match=r"per model x runtime \(they differ in dataset\)"):
            run.accuracy()
        by_dataset = run.metric("accuracy", ["dataset", "model"], "runtime")
        assert by_dataset.loc[("mnist", "lr"), "ort-cpu"] == pytest.approx(0.92)


# --- the other tables -------------------------------------------------------------------


class TestOtherTables:
    def test_manifest_parity_placement_summary(self, run):
        assert run.manifest["settings"]["dataset"] == "digits"
        assert run.parity.loc[0, "label_agreement"] == 1.0
        assert list(run.placement.columns)[:3] == ["model", "runtime", "provider"]
        assert run.summary.loc[0, "accuracy"] == pytest.approx(0.95)

    def test_models_are_the_onnx_files(self, run):
        assert run.models == {
            "dt": run.path / "models" / "dt.onnx",
            "lr": run.path / "models" / "lr.onnx",
        }

    def test_confusion(self, run):
        table = run.confusion("lr", "ort-cpu")
        assert table.values.tolist() == [[5, 1], [0, 4]]

    def test_missing_confusion_lists_those_there(self, run):
        with pytest.raises(FileNotFoundError, match=r"for: lr on ort-cpu\.$"):
            run.confusion("dt", "ort-cpu")


# --- study runs ----------------------------------------------------------------------------


@pytest.fixture
def study_run(tmp_path) -> RunData:
    folder = write_run(
        tmp_path / "study",
        results=None,
        **{
            "manifest.json": json.dumps({"settings": {"kind": "study"}}),
            "studies/datasize/learning_curves.csv": "family,train_size,accuracy_mean\n"
            "lr,100,0.8\nlr,400,0.9\n",
            "studies/datasize/flatten.csv": "family,flattens_at\nlr,400\n",
            "studies/datasize/section.json": json.dumps({"headline": "Best: lr", "findings": []}),
            "studies/errors/.keep": "",
        },
    )
    return load_run(folder)


class TestStudyRuns:
    def test_studies_and_their_tables(self, study_run):
        assert study_run.studies == ["datasize", "errors"]
        assert study_run.study_tables("datasize") == ["flatten", "learning_curves"]
        curve = study_run.study_table("datasize", "learning_curves")
        assert curve["accuracy_mean"].tolist() == [0.8, 0.9]
        assert study_run.study_section("datasize")["headline"] == "Best: lr"

    def test_results_of_a_study_run_say_where_the_tables_are(self, study_run):
        with pytest.raises(FileNotFoundError, match=r"results\.csv is missing.*study_table"):
            _ = study_run.results

    def test_unknown_study_and_table_list_what_there_is(self, study_run):
        with pytest.raises(FileNotFoundError, match=r"has the studies: datasize, errors\.$"):
            study_run.study_table("clustering", "runs")
        with pytest.raises(FileNotFoundError, match=r"has the tables: flatten, learning_curves"):
            study_run.study_table("datasize", "runs")

    def test_unfinished_study_has_no_section(self, study_run):
        with pytest.raises(FileNotFoundError, match=r"study 'errors' did not finish"):
            study_run.study_section("errors")


# --- folders that are not, or are old, run folders ----------------------------------------------


class TestFolders:
    def test_missing_folder(self, tmp_path):
        with pytest.raises(FileNotFoundError, match=r"Cannot load run .*nowhere: no such folder"):
            load_run(tmp_path / "nowhere")

    def test_a_file_is_not_a_run(self, tmp_path):
        (tmp_path / "results.csv").write_text(RESULTS)
        with pytest.raises(FileNotFoundError, match=r"no such folder"):
            load_run(tmp_path / "results.csv")

    def test_folder_without_results_or_studies(self, tmp_path):
        with pytest.raises(ValueError, match=r"neither results\.csv .* nor studies/"):
            load_run(tmp_path)

    def test_old_run_without_manifest_or_side_tables_loads(self, tmp_path):
        old = (
            "model,runtime,batch_size,metric,value\n"
            "lr,ort-cpu,,accuracy,0.9\n"
            "lr,ort-cpu,all,latency_p50_ms,1.5\n"
        )
        run = load_run(write_run(tmp_path / "old", old))
        assert run.manifest == {} and run.models == {}
        assert run.parity is None and run.placement is None and run.summary is None
        assert tuple(run.results.columns) == COLUMNS
        assert run.results["provider"].isna().all() and run.results["threads"].isna().all()
        assert run.accuracy().loc["lr", "ort-cpu"] == pytest.approx(0.9)
        # batch size 'all' (written before batch sizes were resolved) stays as written
        assert list(run.latency().columns) == ["all"]

    def test_results_without_the_value_column(self, tmp_path):
        run = load_run(write_run(tmp_path / "r", "model,metric\nlr,accuracy\n"))
        with pytest.raises(
            ValueError, match=r"not a results table: it lacks the column\(s\) value"
        ):
            _ = run.results

    def test_results_with_a_value_that_is_no_number(self, tmp_path):
        run = load_run(write_run(tmp_path / "r", "model,metric,value\nlr,accuracy,high\n"))
        with pytest.raises(ValueError, match=r"results\.csv: column 'value' holds a non-number"):
            _ = run.results

    def test_empty_results(self, tmp_path):
        run = load_run(write_run(tmp_path / "r", ""))
        with pytest.raises(ValueError, match=r"Cannot read .*results\.csv: EmptyDataError"):
            _ = run.results

    @pytest.mark.parametrize("text", ["{not json", "[1, 2]"])
    def test_unreadable_manifest(self, tmp_path, text):
        folder = write_run(tmp_path / "r", **{"manifest.json": text})
        with pytest.raises(ValueError, match=r"Cannot read .*manifest\.json"):
            load_run(folder)

    def test_summary_that_is_no_summary(self, tmp_path):
        run = load_run(write_run(tmp_path / "r", **{"summary.json": '{"rows": []}'}))
        with pytest.raises(ValueError, match=r"summary\.json: expected a 'summary' list"):
            _ = run.summary


# --- imports ---------------------------------------------------------------------------------


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True
    )


def test_import_toolkit_stays_light():
    done = run_python(
        """
        import sys, toolkit
        toolkit.__version__
        heavy = [m for m in ("pandas", "torch", "sklearn", "toolkit.run_data") if m in sys.modules]
        print(heavy)
        sys.exit(1 if heavy else 0)
        """
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_without_pandas_the_error_says_what_to_install(tmp_path):
    folder = write_run(tmp_path / "r")
    done = run_python(
        f"""
        import sys
        sys.modules["pandas"] = None  # as if pandas were not installed
        import toolkit
        run = toolkit.load_run({str(folder)!r})
        try:
            _ = run.results
        except ImportError as e:
            print(e)
        """
    )
    assert done.returncode == 0, done.stderr
    assert "needs pandas" in done.stdout and "xrbench[report]" in done.stdout
