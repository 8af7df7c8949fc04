"""Run an exported model (:func:`~trans3dhead.inference.export.export_onnx`) with ONNX Runtime.

:class:`OnnxBackend` returns the same :class:`~trans3dhead.types.HeadOutput` fields as the PyTorch model
(CPU tensors; ``landmark_layers`` holds the final layer only and ``heatmaps`` is None), so the aligner
and everything after it do not care which backend ran.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from trans3dhead.errors import InputError
from trans3dhead.flame.layer import FlameOutput
from trans3dhead.inference.backend import check_crops
from trans3dhead.inference.export import ONNX_INPUT, ONNX_OUTPUTS
from trans3dhead.types import HeadOutput

__all__ = ["OnnxBackend", "GRAPH_OPTIMIZATIONS", "max_abs_differences"]

logger = logging.getLogger(__name__)

#: ``optimization`` names -> ``onnxruntime.GraphOptimizationLevel`` member names.
GRAPH_OPTIMIZATIONS = {
    "none": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}


def _import_ort():
    try:
        import onnxruntime
    except ImportError as exc:
        raise ImportError("the ONNX backend needs 'onnxruntime': pip install 'trans3dhead[onnx]'") from exc
    return onnxruntime


class OnnxBackend:
    """An ONNX Runtime session over an exported trans3dhead model.

    Args:
        path: the ``.onnx`` file.
        threads: intra-op threads; None lets ONNX Runtime choose (all physical cores).
        optimization: graph optimisation level, one of :data:`GRAPH_OPTIMIZATIONS`.
        providers: execution providers; None uses CUDA when ONNX Runtime has it, else the CPU.
    """

    name = "onnx"

    def __init__(
        self,
        *,
        path: str | Path,
        threads: int | None = None,
        optimization: str = "all",
        providers: list[str] | None = None,
    ) -> None:
        ort = _import_ort()
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: ONNX file not found")
        if optimization not in GRAPH_OPTIMIZATIONS:
            raise InputError(
                f"optimization must be one of {sorted(GRAPH_OPTIMIZATIONS)}, got {optimization!r}"
            )
        if threads is not None and threads < 1:
            raise InputError(f"threads must be a positive integer or None, got {threads!r}")
        options = ort.SessionOptions()
        options.graph_optimization_level = getattr(
            ort.GraphOptimizationLevel, GRAPH_OPTIMIZATIONS[optimization]
        )
        if threads is not None:
            options.intra_op_num_threads = threads
        available = ort.get_available_providers()
        if providers is None:
            providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable files
            raise InputError(f"{self.path}: not a loadable ONNX model ({type(exc).__name__}: {exc})") from exc
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        self._check_graph()
        self.input_size = int(self.metadata["trans3dhead.input_size"])
        # a graph exported with a fixed batch (`export --batch N`) takes exactly N crops per run
        fixed = self.session.get_inputs()[0].shape[0]
        self.fixed_batch = fixed if isinstance(fixed, int) else None

    def _check_graph(self) -> None:
        outputs = tuple(o.name for o in self.session.get_outputs())
        inputs = [i.name for i in self.session.get_inputs()]
        if inputs != [ONNX_INPUT] or outputs != ONNX_OUTPUTS or "trans3dhead.input_size" not in self.metadata:
            raise InputError(
                f"{self.path}: not a trans3dhead export (inputs {inputs}, outputs {list(outputs)}); "
                "write one with `trans3dhead export`"
            )

    def check_compatible(self, *, num_params: int, num_vertices: int, input_size: int) -> None:
        """Raise a ValueError naming the file when it was exported from a different model."""
        expected = {"num_params": num_params, "num_vertices": num_vertices, "input_size": input_size}
        found = {key: int(self.metadata.get(f"trans3dhead.{key}", -1)) for key in expected}
        if found != expected:
            raise InputError(
                f"{self.path} was exported from another model: it has {found}, expected {expected}"
            )

    def run(self, crops: np.ndarray) -> dict[str, np.ndarray]:
        """crops (B, 3, S, S) float32 -> ``{output name: array}`` (:data:`ONNX_OUTPUTS`).

        A fixed-batch graph (N) runs ``ceil(B / N)`` times, the last chunk padded with zero crops whose
        outputs are dropped."""
        crops = np.ascontiguousarray(crops, np.float32)
        n = self.fixed_batch
        if n is None or len(crops) == n:
            values = self.session.run(list(ONNX_OUTPUTS), {ONNX_INPUT: crops})
            return dict(zip(ONNX_OUTPUTS, values, strict=True))
        chunks = []
        for start in range(0, max(len(crops), 1), n):  # no crops: one all-padding run gives empty outputs
            chunk = crops[start : start + n]
            padded = np.concatenate([chunk, np.zeros((n - len(chunk), *chunk.shape[1:]), np.float32)])
            values = self.session.run(list(ONNX_OUTPUTS), {ONNX_INPUT: padded})
            chunks.append([v[: len(chunk)] for v in values])
        return {name: np.concatenate([c[i] for c in chunks]) for i, name in enumerate(ONNX_OUTPUTS)}

    def __call__(self, crops: Tensor) -> HeadOutput:
        crops = check_crops(crops, self.input_size)
        out = {k: torch.from_numpy(v) for k, v in self.run(crops.detach().cpu().numpy()).items()}
        flame = FlameOutput(
            vertices=out["vertices"],
            posed_vertices=out["posed_vertices"],
            rotation=out["rotation"],
            projected=out["projected"],
            landmarks_3d=out["landmarks_3d"],
            landmarks_2d=out["landmarks_2d"],
        )
        return HeadOutput(
            params=out["params"],
            flame=flame,
            landmarks=out["landmarks"],
            landmark_layers=out["landmarks"][None],
        )


def max_abs_differences(
    model: torch.nn.Module, backend: OnnxBackend, crops: Tensor, *, relative: bool = False
) -> dict[str, float]:
    """Largest absolute difference per output between eager PyTorch (float32) and ONNX Runtime.

    ``relative`` divides each by ``max(1, largest |eager value|)`` of that output (float32 rounding grows
    with the magnitude: crop pixels reach S).
    """
    from trans3dhead.inference.export import ExportableHead

    device = next(model.parameters()).device
    with torch.inference_mode():
        eager = ExportableHead(model.eval())(crops.to(device, torch.float32))
    onnx = backend.run(crops.detach().cpu().numpy())
    out = {}
    for name, value in zip(ONNX_OUTPUTS, eager, strict=True):
        reference = value.cpu().numpy()
        diff = float(np.abs(reference - onnx[name]).max())
        out[name] = diff / max(1.0, float(np.abs(reference).max())) if relative else diff
    return out
