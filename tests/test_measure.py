"""The one lifecycle (toolkit.measure): export once with parity, one ONNX pass for parity,
quality and timing as separate steps, and the same path for `xrbench run` and the studies."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import onnx
import pytest

pytest.importorskip("sklearn")

from toolkit import measure  # noqa: E402
from toolkit.data import load_dataset, train_val_split  # noqa: E402
from toolkit.data.splits import Split  # noqa: E402


@pytest.fixture(scope="module")
def split():
    digits = load_dataset("digits")
    x_fit, y_fit, x_val, y_val = train_val_split(digits.x_train, digits.y_train, 0.1, 0)
    return Split(x_fit, y_fit, x_val, y_val, digits.x_test[:120], digits.y_test[:120])


@pytest.fixture(scope="module")
def trained(split):
    return measure.train(
        "lr", split, dataset="digits", class_names=tuple(str(i) for i in range(10))
    )


class TestSplit:
    def test_split_is_a_frozen_named_type(self, split):
        with pytest.raises(AttributeError):
            split.x_train = None
        assert split.test_xy[0] is split.x_test
        assert "validation" in split.describe()

    def test_train_model_takes_a_split_or_arrays(self, split, trained):
        from toolkit.train import train_model

        again = train_model(
            "lr",
            dataset="digits",
            class_names=trained.class_names,
            x_train=split.x_train,
            y_train=split.y_train,
        )
        np.testing.assert_array_equal(
            again.predict(split.x_test)[0], trained.predict(split.x_test)[0]
        )
        with pytest.raises(ValueError, match="needs a split or x_train and y_train"):
            train_model("lr", dataset="digits", class_names=trained.class_names)


class TestExportOnce:
    def test_file_is_written_once_with_its_parity(self, trained, split, tmp_path, monkeypatch):
        import toolkit.results

        writes = []
        real = toolkit.results.atomic_write_bytes

        def counting(path, *args, **kwargs):
            writes.append(path.name)
            return real(path, *args, **kwargs)

        monkeypatch.setattr(toolkit.results, "atomic_write_bytes", counting)
        exported = measure.export_once(trained, tmp_path / "lr.onnx", split, threads=1)
        # the saved model may be written through this name too, depending on import order
        onnx_writes = [name for name in writes if name.endswith(".onnx")]
        assert onnx_writes == ["lr.onnx"] and (tmp_path / "lr.skops").is_file()
        meta = {p.key: p.value for p in onnx.load(exported.path).metadata_props}
        parity = json.loads(meta["parity"])
        assert parity == exported.parity and parity["n_samples"] == len(split.x_test)
        assert json.loads(meta["metrics_at_export"])["accuracy"] == parity["onnx_accuracy"]
        assert meta["saved_model_sha256"] == exported.saved.sha256

    def test_parity_needs_one_onnx_pass(self, trained, split, tmp_path, monkeypatch):
        """The reference runner's predictions are the parity's ONNX side and ort-cpu's
        quality: the ONNX graph runs over the test set once."""
        from toolkit.harness import runtimes

        calls = []
        real = runtimes.OnnxRunner.predict

        def counted(self, images):
            calls.append(len(images))
            return real(self, images)

        monkeypatch.setattr(runtimes.OnnxRunner, "predict", counted)
        exported = measure.export_once(trained, tmp_path / "lr.onnx", split, threads=1)
        assert sum(calls) == len(split.x_test)
        measurement = measure.measure_runtimes(
            exported,
            ["ort-cpu"],
            split,
            model="lr",
            dataset="digits",
            num_classes=10,
            batch_sizes=(),
            budget_s=0.01,
            threads=1,
        )
        assert sum(calls) == len(split.x_test)  # ort-cpu's quality was not measured again
        assert measurement.results[0].evaluation is exported.quality

    def test_the_file_matches_what_was_measured(self, trained, split, tmp_path):
        from toolkit.harness import open_onnx

        exported = measure.export_once(trained, tmp_path / "lr.onnx", split, save=False)
        labels, _ = open_onnx(exported.path, "ort-cpu", threads=1).predict(split.x_test)
        np.testing.assert_array_equal(labels, exported.quality.labels)
        assert exported.saved is None and not (tmp_path / "lr.skops").exists()


class TestQualityAndTiming:
    def test_quality_then_timing_are_separate_steps(self, trained, split, tmp_path):
        exported = measure.export_once(trained, tmp_path / "lr.onnx", split, save=False)
        runner = measure.open_runtime("sklearn", exported.path, trained, threads=1)
        quality = measure.measure_quality(
            runner, model="lr", dataset="digits", split=split, num_classes=10
        )
        assert quality.latency == [] and not any(r["batch_size"] for r in quality.rows)
        assert quality.quality["accuracy"] == pytest.approx(exported.parity["native_accuracy"])
        timed = measure.time_runtime(
            runner,
            quality,
            model="lr",
            dataset="digits",
            images=split.x_test,
            batch_sizes=(1, 4),
            budget_s=0.01,
        )
        assert [r.batch_size for r in timed.latency] == [1, 4]
        assert {r["batch_size"] for r in timed.rows if r["metric"] == "latency_p50_ms"} == {1, 4}

    def test_native_runtime_of_another_framework_is_skipped(self, trained, split, tmp_path):
        exported = measure.export_once(trained, tmp_path / "lr.onnx", split, save=False)
        assert measure.open_runtime("torch-cpu", exported.path, trained) is None
        measurement = measure.measure_runtimes(
            exported,
            ["ort-cpu", "torch-cpu", "sklearn"],
            split,
            model="lr",
            dataset="digits",
            num_classes=10,
            batch_sizes=(1,),
            budget_s=0.01,
            threads=1,
            trained=trained,
        )
        assert [r.runtime for r in measurement.results] == ["ort-cpu", "sklearn"]
        sizes = [
            r for r in measurement.results[0].evaluation.rows if r["metric"] == "model_size_mb"
        ]
        assert len(sizes) == 1

    def test_a_runtime_that_fails_to_open_is_a_failure_not_the_end(
        self, trained, split, tmp_path, monkeypatch
    ):
        exported = measure.export_once(trained, tmp_path / "lr.onnx", split, save=False)

        def refuse(runtime, path, trained=None, threads=None, arena=True):
            raise ValueError(f"{path.name}: cannot compile")

        monkeypatch.setattr(measure, "open_runtime", refuse)
        told = []
        measurement = measure.measure_runtimes(
            exported,
            ["ort-cpu", "sklearn"],
            split,
            model="lr",
            dataset="digits",
            num_classes=10,
            batch_sizes=(1,),
            budget_s=0.01,
            on_failure=lambda runtime, error: told.append(runtime),
        )
        assert [r.runtime for r in measurement.results] == ["ort-cpu"]
        assert told == ["sklearn"] and measurement.failures[0]["runtime"] == "sklearn"


class TestTimingInRounds:
    """Step 4b for all runtimes of a model at once (the noise model): in worker processes
    that open their own sessions, or here on the open runners."""

    def _quality_only(self, trained, split, path):
        exported = measure.export_once(trained, path, split)  # saved model beside the file
        measurement = measure.measure_runtimes(
            exported,
            ["ort-cpu", "sklearn"],
            split,
            model="lr",
            dataset="digits",
            num_classes=10,
            batch_sizes=(),
            budget_s=0.01,
            threads=1,
            trained=trained,
        )
        assert all(not r.evaluation.latency for r in measurement.results)
        # the native quality pass is the parity pass's predictions, not a second pass
        native = next(r for r in measurement.results if r.runtime == "sklearn")
        assert native.evaluation.labels is exported.native[0]
        return exported, measurement

    def _timed(self, measurement, exported, split, pool=None, rounds=2):
        return measure.time_runtimes(
            measurement,
            exported.path,
            split.x_test,
            model="lr",
            dataset="digits",
            batch_sizes=(1, "all"),
            budget_s=0.01,
            rounds=rounds,
            pool=pool,
        )

    def test_rounds_here_give_every_row_its_rounds(self, trained, split, tmp_path):
        exported, measurement = self._quality_only(trained, split, tmp_path / "lr.onnx")
        self._timed(measurement, exported, split, rounds=3)
        for result in measurement.results:
            assert [len(r.rounds) for r in result.evaluation.latency] == [3, 3]
            rows = {
                (r["batch_size"], r["metric"]): r["value"]
                for r in result.evaluation.rows
                if r["batch_size"]
            }
            assert rows[(1, "latency_rounds")] == 3 and rows[(120, "latency_rounds")] == 3
            assert (1, "latency_p50_ci_low_ms") in rows

    @pytest.mark.slow
    def test_worker_processes_time_from_the_files_and_a_failure_keeps_quality(
        self, trained, split, tmp_path
    ):
        from toolkit.harness.rounds import TimingPool

        exported, measurement = self._quality_only(trained, split, tmp_path / "lr.onnx")
        with TimingPool(2, split.x_test, threads=1) as pool:
            self._timed(measurement, exported, split, pool=pool)
            assert [r.runtime for r in measurement.results] == ["ort-cpu", "sklearn"]
            assert not measurement.failures
            for result in measurement.results:
                assert [len(r.rounds) for r in result.evaluation.latency] == [2, 2]
            # no model handed over and the saved model gone: the workers cannot open the
            # native runtime for a new model
            exported2, measurement2 = self._quality_only(trained, split, tmp_path / "b.onnx")
            exported2.saved.path.unlink()
            native = next(r for r in measurement2.results if r.runtime == "sklearn")
            native.runner = replace(native.runner, trained=None)
            self._timed(measurement2, exported2, split, pool=pool)
        assert [f["runtime"] for f in measurement2.failures] == ["sklearn"]
        assert "timing round 1" in measurement2.failures[0]["error"]
        sklearn = next(r for r in measurement2.results if r.runtime == "sklearn")
        assert sklearn.evaluation.latency == []
        assert any(r["metric"] == "accuracy" for r in sklearn.evaluation.rows)  # quality kept
