"""The memory-bandwidth bound: bytes a call must read (a file's initializers) over the
measured read rate. The rate is only checked to be a positive number, never a value."""

from __future__ import annotations

import numpy as np
import pytest

from toolkit.bandwidth import memory_bound, read_bandwidth, weight_bytes

onnx = pytest.importorskip("onnx")


def _file(tmp_path, n: int):
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((n, 4), np.float32), "w")
    table = numpy_helper.from_array(np.ones(500, np.float32), "table")  # a lookup: not counted
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["w", "x"], ["y"]),
            helper.make_node("Gather", ["table", "i"], ["z"]),
        ],
        "g",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 1]),
            helper.make_tensor_value_info("i", TensorProto.INT64, [2]),
        ],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, 1]),
            helper.make_tensor_value_info("z", TensorProto.FLOAT, [2]),
        ],
        [w, table],
    )
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph), path)
    return path


def test_bound_is_weight_bytes_over_bandwidth(tmp_path):
    path = _file(tmp_path, 1000)
    assert weight_bytes(path) == 1000 * 4 * 4
    dram = read_bandwidth(1 << 20, repeats=2)
    assert dram["bandwidth_bytes_s"] > 0 and dram["bytes"] == 1 << 20
    bound = memory_bound(path, dram)
    assert bound["weight_bytes"] == 16000
    want = 16000 / dram["bandwidth_bytes_s"] * 1e3
    assert bound["dram_bound_ms"] == pytest.approx(want)
    assert bound["cached_bound_ms"] > 0


def test_tiny_array_is_refused():
    with pytest.raises(ValueError, match="nbytes must be at least 4096"):
        read_bandwidth(100)
