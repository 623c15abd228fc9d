"""Exact integer matrix products for the neural text model, with onnxruntime's MatMulInteger.

The model's weights are int8 in ±63 and its activations integers in ±127, sent as uint8 with
zero point 128.  Every kernel onnxruntime has computes such a product exactly: the int32
accumulators cannot overflow (255 · 63 · 1536 < 2**31), and the x86 kernels that add pairs of
8-bit products in 16 bits first (``vpmaddubsw`` on AVX2 and AVX-512BW) stay below their
saturation at 2**15 because 255 · 63 · 2 = 32,130 (the reason the weights keep 7 bits: ±127
would saturate there and differ from VNNI and ARM kernels).  Exact results do not depend on
thread count, blocking or instruction set.

It reads a quarter of the bytes a float32 BLAS product of the same integers does, which is
what a one-token-at-a-time decoder waits on.
"""

from __future__ import annotations

import numpy as np

ZERO_POINT = 128
MAX_WEIGHT = 63
THREADS = 1
"""One thread, the caller's: the model holds 121 of these products, and a thread pool each (spinning
while idle) would cost more than the products."""


class IntegerMatrix:
    """``x_int @ weight`` for integer rows ``x_int`` (|x| ≤ 127) and an int8 (in, out) matrix."""

    def __init__(self, weight: np.ndarray) -> None:
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper

        if weight.dtype != np.int8 or np.abs(weight.astype(np.int16)).max(initial=0) > MAX_WEIGHT:
            raise ValueError(f"weights must be int8 within ±{MAX_WEIGHT}")
        self.shape = weight.shape
        graph = helper.make_graph(
            [helper.make_node("MatMulInteger", ["x", "w", "zero"], ["y"])], "matmul",
            [helper.make_tensor_value_info("x", TensorProto.UINT8, [None, weight.shape[0]])],
            [helper.make_tensor_value_info("y", TensorProto.INT32, [None, weight.shape[1]])],
            initializer=[numpy_helper.from_array(weight, "w"),
                         numpy_helper.from_array(np.array(ZERO_POINT, np.uint8), "zero")])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        options = ort.SessionOptions()
        options.intra_op_num_threads = THREADS
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        self.session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])

    def __call__(self, x_int: np.ndarray) -> np.ndarray:
        """The exact products, as float64 (exact: they are below 2**31)."""
        x = (x_int + ZERO_POINT).astype(np.uint8)
        return self.session.run(None, {"x": x})[0].astype(np.float64)
