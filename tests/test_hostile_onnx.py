"""Hostile ONNX files against the harness and `xrbench eval`, grouped by input kind.

- files that do not load (empty, random bytes, truncated, a directory, missing, unreadable);
- graphs that break the contract, when loaded (a fixed batch axis, a declared type the
  graph does not produce) or only at run time (labels out of range or of the wrong count,
  a scores width decided per call), and one valid graph the old profiling step refused
  (32x32 images with an open height and width);
- text from files (model name, dataset, class names, input names) printed to a terminal
  or written to CSV, HTML and PDF.

Every error must be one line naming the file (and the output, where one is wrong), with
exit code 2 for `xrbench eval`, and without onnxruntime's own log lines on stderr. All the
files are built here with onnx.helper; the tests need only numpy, onnxruntime and onnx
(marked standalone) except the report's, which need reportlab.
"""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.conftest import register_idx_dataset
from tests.onnx_fixtures import bright_dark_images, mean_threshold_model
from toolkit.cli import main
from toolkit.harness import ContractError, open_onnx
from toolkit.harness.contract import check_outputs
from toolkit.harness.runtimes import inspect_onnx
from toolkit.results import RunFolder
from toolkit.table import format_table, printable

standalone = pytest.mark.standalone

ESCAPE = "\x1b"
ORT_LOG = "[E:onnxruntime"  # how onnxruntime's own error log lines start


# --- helpers: datasets, the eval command, hand-made graphs --------------------------------


def _register(monkeypatch, root: Path, name: str, image_shape: tuple[int, int]) -> None:
    x_train, y_train = bright_dark_images(20, image_shape, seed=1)
    x_test, y_test = bright_dark_images(30, image_shape, seed=2)
    arrays = {
        "train_images": x_train,
        "train_labels": y_train.astype(np.uint8),
        "test_images": x_test,
        "test_labels": y_test.astype(np.uint8),
    }
    register_idx_dataset(monkeypatch, root / name, name, arrays, ("dark", "bright"))


@pytest.fixture
def datasets(isolated_data_env, monkeypatch):
    """Two 2-class IDX datasets: 'brightdark' (8x8) and 'brightdark32' (32x32)."""
    root = isolated_data_env / "data"
    _register(monkeypatch, root, "brightdark", (8, 8))
    _register(monkeypatch, root, "brightdark32", (32, 32))
    monkeypatch.setenv("XRBENCH_DATA", str(root))
    return root


def run_eval(capfd, path, dataset: str = "brightdark", *extra: str) -> tuple[int, str, str]:
    """`xrbench eval PATH` with a tiny timing budget: (exit code, stdout, stderr).

    capfd, not capsys: onnxruntime logs from C++ straight to file descriptor 2.
    """
    code = main(
        [
            "eval",
            str(path),
            "--dataset",
            dataset,
            "--batch-sizes",
            "1",
            "--budget",
            "0.01",
            "--no-download",
            *extra,
        ]
    )
    out, err = capfd.readouterr()
    return code, out, err


def assert_one_line_error(code: int, out: str, err: str, *expected: str) -> str:
    """Exit code 2, nothing on stdout, and exactly one clean line on stderr."""
    assert code == 2, (code, out, err)
    assert out == "", out
    assert err.count("\n") == 1 and err.startswith("xrbench eval: error: "), err
    assert ORT_LOG not in err and ESCAPE not in err, err
    for text in expected:
        assert text in err, (text, err)
    return err.strip()


def _model(
    path: Path,
    tail: list,
    *,
    image_shape=(8, 8),
    input_shape=None,
    label_type=TensorProto.INT64,
    scores_shape=("N", 2),
    extra_inits: tuple = (),
    metadata: dict | None = None,
) -> Path:
    """The mean-threshold graph up to 'probs' [N, 2] and 'argmax' [N] (int64), then ``tail``,
    the nodes that make the outputs 'label' and 'scores' from them."""
    n_pixels = int(np.prod(image_shape))
    w = np.stack([np.full(n_pixels, -1 / n_pixels), np.full(n_pixels, 1 / n_pixels)], axis=1)
    nodes = [
        helper.make_node("Cast", ["image"], ["xf"], to=TensorProto.FLOAT),
        helper.make_node("Reshape", ["xf", "shape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "w"], ["logits0"]),
        helper.make_node("Add", ["logits0", "b"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
        helper.make_node("ArgMax", ["probs"], ["argmax"], axis=1, keepdims=0),
        *tail,
    ]
    inits = [
        numpy_helper.from_array(np.array([-1, n_pixels], dtype=np.int64), "shape"),
        numpy_helper.from_array((w * 0.1).astype(np.float32), "w"),
        numpy_helper.from_array(np.array([12.75, -12.75], dtype=np.float32), "b"),
        *extra_inits,
    ]
    graph = helper.make_graph(
        nodes,
        "hostile",
        [
            helper.make_tensor_value_info(
                "image", TensorProto.UINT8, list(input_shape or ["N", *image_shape])
            )
        ],
        [
            helper.make_tensor_value_info("label", label_type, ["N"]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, list(scores_shape)),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, path)
    return path


PLAIN_TAIL = [
    helper.make_node("Identity", ["argmax"], ["label"]),
    helper.make_node("Identity", ["probs"], ["scores"]),
]


def _int64(name: str, value: int):
    return numpy_helper.from_array(np.array(value, dtype=np.int64), name)


# --- files that do not load -----------------------------------------------------------------


@pytest.fixture
def good_bytes(tmp_path) -> bytes:
    return mean_threshold_model(tmp_path / "source.onnx").read_bytes()


def _unloadable(kind: str, tmp_path: Path, good: bytes) -> Path:
    path = tmp_path / f"{kind}.onnx"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "random":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, np.uint8).tobytes())
    elif kind == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif kind == "directory":
        path.mkdir()
    elif kind == "text":
        path.write_text("this is not a model\n")
    return path  # "missing": nothing is written


UNLOADABLE = {
    "empty": "is empty (0 bytes), not an ONNX file.",
    "random": "onnxruntime cannot load this file: ",
    "truncated": "onnxruntime cannot load this file: ",
    "text": "onnxruntime cannot load this file: ",
    "directory": "is a directory, not an ONNX file.",
    "missing": "ONNX file not found: ",
}


@standalone
class TestUnloadableFiles:
    @pytest.mark.parametrize("kind", sorted(UNLOADABLE))
    def test_eval_gives_one_line_and_exit_2(self, kind, tmp_path, good_bytes, datasets, capfd):
        path = _unloadable(kind, tmp_path, good_bytes)
        code, out, err = run_eval(capfd, path)
        assert_one_line_error(code, out, err, str(path), UNLOADABLE[kind])
        assert "FAILED" not in out and "Traceback" not in err

    @pytest.mark.parametrize("kind", sorted(UNLOADABLE))
    def test_api_raises_before_any_session(self, kind, tmp_path, good_bytes, capfd):
        path = _unloadable(kind, tmp_path, good_bytes)
        error = FileNotFoundError if kind == "missing" else ValueError
        for call in (inspect_onnx, open_onnx):
            with pytest.raises(error, match=re.escape(UNLOADABLE[kind].split(":")[0])) as info:
                call(path)
            assert str(path) in str(info.value) and "\n" not in str(info.value)
        assert ORT_LOG not in capfd.readouterr().err

    def test_load_error_drops_onnxruntimes_codes_and_repeated_path(self, tmp_path, good_bytes):
        path = _unloadable("random", tmp_path, good_bytes)
        with pytest.raises(ValueError) as info:
            inspect_onnx(path)
        message = str(info.value)
        assert "[ONNXRuntimeError]" not in message and "Load model from" not in message
        assert message.count(str(path)) == 1

    def test_unreadable_file(self, tmp_path, good_bytes, datasets, capfd, monkeypatch):
        """Root reads a chmod 000 file, so the refusal is simulated at the open() call."""
        path = tmp_path / "locked.onnx"
        path.write_bytes(good_bytes)
        real_open = open

        def refusing_open(file, *args, **kwargs):
            if Path(file) == path:
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr("toolkit.harness.runtimes.open", refusing_open, raising=False)
        code, out, err = run_eval(capfd, path)
        assert_one_line_error(code, out, err, str(path), "cannot read this ONNX file")

    @pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod 000 file")
    def test_unreadable_file_really_chmod_000(self, tmp_path, good_bytes, datasets, capfd):
        path = tmp_path / "locked.onnx"
        path.write_bytes(good_bytes)
        path.chmod(0)
        try:
            code, out, err = run_eval(capfd, path)
        finally:
            path.chmod(0o644)
        assert_one_line_error(code, out, err, str(path), "Permission denied")

    def test_broken_file_is_refused_before_the_dataset_is_read(self, tmp_path, capfd):
        """No dataset is registered: the file's error comes first, not the dataset's."""
        path = _unloadable("empty", tmp_path, b"")
        code, out, err = run_eval(capfd, path, "mnist")
        assert_one_line_error(code, out, err, "is empty")


# --- graphs that break the contract ---------------------------------------------------------


def _fixed_batch(path):
    return _model(path, PLAIN_TAIL, input_shape=[2, 8, 8])


def _declared_type_not_produced(path):  # label declared int64, the graph makes int32
    tail = [
        helper.make_node("Cast", ["argmax"], ["label"], to=TensorProto.INT32),
        helper.make_node("Identity", ["probs"], ["scores"]),
    ]
    return _model(path, tail)


def _labels_out_of_range(path):
    tail = [
        helper.make_node("Add", ["argmax", "five"], ["label"]),
        helper.make_node("Identity", ["probs"], ["scores"]),
    ]
    return _model(path, tail, extra_inits=(_int64("five", 5),))


def _negative_labels(path):
    tail = [
        helper.make_node("Sub", ["argmax", "one"], ["label"]),
        helper.make_node("Identity", ["probs"], ["scores"]),
    ]
    return _model(path, tail, extra_inits=(_int64("one", 1),))


def _labels_of_wrong_length(path):  # declared [N], returns 2N labels
    tail = [
        helper.make_node("Concat", ["argmax", "argmax"], ["label"], axis=0),
        helper.make_node("Identity", ["probs"], ["scores"]),
    ]
    return _model(path, tail)


def _scores_width_at_run_time(path):
    """Declared [N, C]; returns N + 2 columns (zeros appended), which no shape inference can
    know: 4 on a profiling batch of 2, where labels are still in range, 32 on 30 images."""
    inits = (
        numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
        numpy_helper.from_array(np.array([0], dtype=np.int64), "start"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "stop"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "one"),
    )
    tail = [
        helper.make_node("Identity", ["argmax"], ["label"]),
        helper.make_node("ReduceSum", ["probs", "axis1"], ["rowsum"], keepdims=1),  # [N, 1]
        helper.make_node("Mul", ["rowsum", "zero"], ["zeros"]),
        helper.make_node("Shape", ["image"], ["image_shape"]),
        helper.make_node("Slice", ["image_shape", "start", "stop"], ["n"]),
        helper.make_node("Concat", ["one", "n"], ["repeats"], axis=0),  # [1, N]
        helper.make_node("Tile", ["zeros", "repeats"], ["padding"]),  # [N, N]
        helper.make_node("Concat", ["probs", "padding"], ["scores"], axis=1),
    ]
    return _model(path, tail, scores_shape=("N", "C"), extra_inits=inits)


#: (builder, what the one line must say): the file name is checked on top.
CONTRACT_BREAKS = {
    "fixed_batch": (_fixed_batch, "input 'image' has a fixed batch axis of 2"),
    "declared_type": (_declared_type_not_produced, "onnxruntime cannot load this file"),
    "labels_out_of_range": (_labels_out_of_range, "output 'label' holds class indices outside"),
    "negative_labels": (_negative_labels, "output 'label' holds class indices outside [0, 2)"),
    "labels_wrong_length": (_labels_of_wrong_length, "output 'label' must be int64 of shape"),
    "scores_width": (_scores_width_at_run_time, "output 'scores' has 32 columns at run time"),
}


@standalone
class TestContractBreakingGraphs:
    @pytest.mark.parametrize("case", sorted(CONTRACT_BREAKS))
    def test_eval_names_the_file_and_the_output(self, case, tmp_path, datasets, capfd):
        build, expected = CONTRACT_BREAKS[case]
        path = build(tmp_path / f"{case}.onnx")
        code, out, err = run_eval(capfd, path)
        assert_one_line_error(code, out, err, path.name, expected)

    @pytest.mark.parametrize(
        "case", ["labels_out_of_range", "negative_labels", "labels_wrong_length"]
    )
    def test_open_onnx_checks_outputs_on_the_profiling_batch(self, case, tmp_path):
        build, expected = CONTRACT_BREAKS[case]
        path = build(tmp_path / f"{case}.onnx")
        images, _ = bright_dark_images(8)  # both classes, so ArgMax - 1 gives -1
        with pytest.raises(ContractError, match=f"^{case}.onnx: ") as info:
            open_onnx(path, "ort-cpu", threads=1, sample=images)
        assert expected in str(info.value)

    def test_open_scores_width_passes_open_but_not_the_test_set(self, tmp_path, datasets, capfd):
        """With C open, open_onnx can only check labels against the columns it got; the
        dataset's class count is checked on the whole test set."""
        path = _scores_width_at_run_time(tmp_path / "wide.onnx")
        runner = open_onnx(path, "ort-cpu", threads=1, sample=bright_dark_images(2)[0])
        assert runner.info.num_classes is None

    def test_check_outputs_wrong_dtype(self):
        label = np.zeros(4, dtype=np.int32)
        scores = np.zeros((4, 2), dtype=np.float32)
        with pytest.raises(ContractError, match="m.onnx: output 'label' must be int64.*int32"):
            check_outputs("m.onnx", 4, label, scores, 2)
        with pytest.raises(ContractError, match="output 'scores' must be float32.*float64"):
            check_outputs("m.onnx", 4, label.astype(np.int64), scores.astype(np.float64), 2)
        check_outputs("m.onnx", 4, label.astype(np.int64), scores, 2)  # the contract: no error


@standalone
class TestProfilingWithTheDatasetsImages:
    """Point 4 of the issue: a valid file for 32x32 images with an open H and W."""

    def _dynamic_hw(self, path: Path, metadata: dict | None = None) -> Path:
        return _model(
            path,
            PLAIN_TAIL,
            image_shape=(32, 32),
            input_shape=["N", "H", "W"],
            metadata=metadata,
        )

    def test_eval_accepts_it(self, tmp_path, datasets, capfd):
        path = self._dynamic_hw(tmp_path / "open_hw.onnx")
        code, out, err = run_eval(capfd, path, "brightdark32", "--json")
        assert code == 0, err
        assert json.loads(out)["summary"][0]["accuracy"] == 1.0
        assert ORT_LOG not in err

    def test_open_onnx_profiles_the_sample_given(self, tmp_path):
        path = self._dynamic_hw(tmp_path / "open_hw.onnx")
        images, _ = bright_dark_images(2, (32, 32))
        runner = open_onnx(path, "ort-cpu", threads=1, sample=images)
        assert runner.placement.share_on("CPUExecutionProvider")[0] == pytest.approx(1.0)
        assert runner.info.image_shape == (None, None)

    def test_without_a_sample_the_metadata_shape_is_used(self, tmp_path):
        path = self._dynamic_hw(tmp_path / "open_hw.onnx", {"image_shape": "[32, 32]"})
        runner = open_onnx(path, "ort-cpu", threads=1)
        assert runner.placement.share_on("CPUExecutionProvider")[0] == pytest.approx(1.0)

    @pytest.mark.parametrize("hint", [None, "[100000, 100000]", "not json", '{"a": 1}'])
    def test_without_a_sample_or_usable_hint_one_line_names_the_shape(self, tmp_path, hint):
        """A huge hint is ignored (no 10^10-pixel batch), so 28x28 is tried and refused."""
        metadata = {"image_shape": hint} if hint else None
        path = self._dynamic_hw(tmp_path / "open_hw.onnx", metadata)
        with pytest.raises(ContractError, match="^open_hw.onnx: onnxruntime failed to run a ") as e:
            open_onnx(path, "ort-cpu", threads=1)
        assert "[2, 28, 28]" in str(e.value) and "\n" not in str(e.value)

    def test_fixed_batch_axis_is_refused_by_inspect(self, tmp_path):
        path = _fixed_batch(tmp_path / "fixed.onnx")
        with pytest.raises(ContractError, match="fixed.onnx: input 'image' has a fixed batch"):
            inspect_onnx(path)

    def test_good_file_still_opens_without_a_sample(self, tmp_path):
        path = mean_threshold_model(tmp_path / "good.onnx")
        runner = open_onnx(path, "ort-cpu", threads=1)
        images, labels = bright_dark_images(8)
        assert (runner.predict(images)[0] == labels).all()


# --- text from files ------------------------------------------------------------------------

FORGED = "evil\x1b[2J\x1b[H\nforged  ort-cpu  CPUExecutionProvider  1.0000\u202e"


@standalone
class TestTextFromFiles:
    def test_format_table_escapes_every_cell_and_header(self):
        rows = [{"model": FORGED, "accuracy": 0.5}, {"model": "tab\there", "accuracy": 1.0}]
        text = format_table(rows, ["model", "accuracy", "col\nname"])
        lines = text.split("\n")
        assert len(lines) == 4  # header, rule, two rows: no forged row
        assert ESCAPE not in text and "\u202e" not in text and "\t" not in text
        assert "evil\\x1b[2J\\x1b[H\\nforged" in lines[2] and "\\u202e" in lines[2]
        assert "col\\nname" in lines[0]

    def test_printable_keeps_ordinary_text(self):
        assert printable("cnn·Fashion-MNIST é 日本") == "cnn·Fashion-MNIST é 日本"
        assert printable("a\nb", keep="\n") == "a\nb"
        assert printable("a\x00b\x7f") == "a\\x00b\\x7f"

    def test_eval_escapes_model_name_and_dataset_from_metadata(self, tmp_path, datasets, capfd):
        path = mean_threshold_model(
            tmp_path / "named.onnx",
            metadata={"model_name": FORGED, "dataset": "mnist\x1b[31m"},
        )
        code, out, err = run_eval(capfd, path)
        assert code == 0, err
        assert ESCAPE not in out and ESCAPE not in err
        table = out.strip("\n").split("\n")
        assert len(table) == 3, out  # header, rule, one row
        assert "evil\\x1b[2J" in table[2]
        assert "trained on 'mnist\\x1b[31m'" in err

    def test_contract_error_escapes_names_from_the_file(self, tmp_path, datasets, capfd):
        path = mean_threshold_model(tmp_path / "inputs.onnx", input_name="img\x1b[2J\nx")
        code, out, err = run_eval(capfd, path)
        assert_one_line_error(code, out, err, "inputs.onnx", "'img\\x1b[2J\\nx'")

    def test_confusion_csv_quotes_class_names(self, tmp_path):
        names = ["a,b", 'say "hi"', "two\nlines", "plain"]
        cm = np.arange(16).reshape(4, 4)
        path = RunFolder.create(tmp_path, "run").write_confusion("m", "ort-cpu", cm, names)
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
        assert rows[0] == ["true\\pred", *names]
        assert [r[0] for r in rows[1:]] == names
        assert all(len(r) == 5 for r in rows)
        assert [[int(v) for v in r[1:]] for r in rows[1:]] == cm.tolist()


class TestReportEscapesTextFromFiles:
    """report.html and report.pdf of a run whose model and class names are hostile."""

    @pytest.fixture
    def run(self, tmp_path) -> Path:
        names = ["a,b", "<b>bold</b>", "esc\x1b[2J", "nul\x00"]
        manifest = {"settings": {"dataset": "d\x1b[31m"}, "data": {"class_names": names}}
        summary = {
            "summary": [{"model": f"<script>alert(1)</script>{FORGED}", "runtime": "ort-cpu"}],
            "failures": [{"model": "m\x07", "error": "boom\x1b[2J <i>"}],
        }
        (tmp_path / "manifest.json").write_text(json.dumps(manifest))
        (tmp_path / "summary.json").write_text(json.dumps(summary))
        return tmp_path

    def test_html(self, run):
        from toolkit.report import build_report

        html = build_report(run, pdf=False)["html"].read_text()
        assert "<script>alert" not in html and "&lt;script&gt;alert(1)" in html
        assert "<b>bold" not in html and "<i>" not in html
        for raw in (ESCAPE, "\x00", "\x07", "\u202e"):
            assert raw not in html
        assert "evil\\x1b[2J" in html

    def test_pdf_markup(self, run):
        pytest.importorskip("reportlab")
        from toolkit.report import build_report
        from toolkit.report.pdf import _esc

        assert _esc("<b>x</b>\x1b[2J\x00\nnext") == "&lt;b&gt;x&lt;/b&gt;\\x1b[2J\\x00<br/>next"
        pdf = build_report(run)["pdf"]
        assert pdf.read_bytes().startswith(b"%PDF")
