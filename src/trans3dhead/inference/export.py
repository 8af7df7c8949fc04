"""Export a head-alignment model (crop -> parameters, landmarks and the FLAME outputs) to ONNX.

The graph has one input, ``images`` (B, 3, S, S) float32 RGB in [0, 1] with a dynamic batch axis B, and
the outputs :data:`ONNX_OUTPUTS`, which are the fields of :class:`~trans3dhead.types.HeadOutput` and its
:class:`~trans3dhead.flame.FlameOutput` (the FLAME layer, LBS included, is part of the graph).  It is
traced with the TorchScript exporter (``dynamo=False``).  Facts the ONNX Runtime backend checks (input
size, parameter, vertex and landmark counts) are stored as ``trans3dhead.*`` metadata properties.

``batch=N`` fixes the batch axis at N instead (``trans3dhead export --batch 1``): every shape in the graph
is then a constant, ONNX Runtime folds the shape arithmetic of the attention layers away (the lite
model's graph drops from ~1,100 to ~460 nodes) and a single crop runs faster.  The ONNX Runtime backend
feeds such a graph N crops at a time (``trans3dhead.batch`` metadata: "dynamic" or N).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from trans3dhead.atomic import atomic_path
from trans3dhead.checkpoint import code_version
from trans3dhead.errors import InputError

__all__ = ["ONNX_INPUT", "ONNX_OUTPUTS", "OPSET_RANGE", "ExportableHead", "export_onnx", "model_metadata"]

logger = logging.getLogger(__name__)

ONNX_INPUT = "images"
#: Output names, in graph order.  Shapes: params (B, K), landmarks (B, N, 2) normalised crop coordinates,
#: vertices / posed_vertices (B, V, 3), rotation (B, 3, 3), projected (B, V, 2) crop pixels,
#: landmarks_3d (B, N, 3), landmarks_2d (B, N, 2) crop pixels.
ONNX_OUTPUTS = (
    "params",
    "landmarks",
    "vertices",
    "posed_vertices",
    "rotation",
    "projected",
    "landmarks_3d",
    "landmarks_2d",
)
#: Opsets accepted by :func:`export_onnx` (the TorchScript exporter's range; 17 is the tested default).
OPSET_RANGE = (13, 20)
_TRACE_BATCH = 2  # trace with B > 1 so that nothing is specialised to a single item


class ExportableHead(nn.Module):
    """Wraps a model so that it returns a flat tuple of tensors (the order of :data:`ONNX_OUTPUTS`)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: Tensor) -> tuple[Tensor, ...]:
        """images (B, 3, S, S) -> (params, landmarks, vertices, posed_vertices, rotation, projected,
        landmarks_3d, landmarks_2d)."""
        out = self.model(images)
        f = out.flame
        return (
            out.params,
            out.landmarks,
            f.vertices,
            f.posed_vertices,
            f.rotation,
            f.projected,
            f.landmarks_3d,
            f.landmarks_2d,
        )


def model_metadata(model: nn.Module) -> dict[str, str]:
    """The ``trans3dhead.*`` metadata stored in an exported file."""
    flame = model.flame
    return {
        "trans3dhead.input_size": str(flame.image_size),
        "trans3dhead.num_params": str(flame.layout.total),
        "trans3dhead.num_vertices": str(int(flame.v_template.shape[0])),
        "trans3dhead.num_landmarks": str(int(flame.landmark_bary.shape[0])),
        "trans3dhead.arch": type(model).__name__,
        "trans3dhead.outputs": ",".join(ONNX_OUTPUTS),
        "trans3dhead.code_version": code_version(),
    }


def _check_opset(opset: int) -> int:
    if isinstance(opset, bool) or not isinstance(opset, int) or not OPSET_RANGE[0] <= opset <= OPSET_RANGE[1]:
        raise InputError(f"opset must be an integer in [{OPSET_RANGE[0]}, {OPSET_RANGE[1]}], got {opset!r}")
    return opset


def _import_onnx():
    try:
        import onnx
    except ImportError as exc:
        raise ImportError("ONNX export needs the 'onnx' package: pip install 'trans3dhead[onnx]'") from exc
    return onnx


def _check_batch(batch: int | None) -> int | None:
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 1):
        raise InputError(f"--batch must be a positive integer (or absent: a dynamic batch), got {batch!r}")
    return batch


def export_onnx(model: nn.Module, path: str | Path, *, opset: int = 17, batch: int | None = None) -> Path:
    """Write ``model`` (eval mode, on the CPU, float32) to ``path`` as ONNX; returns the path.

    ``batch``: None for a dynamic batch axis, or the fixed batch size of the graph (see the module doc).
    The model's own train/eval mode and device are restored afterwards.  The file is written to a
    temporary name next to ``path`` and renamed into place.
    """
    onnx = _import_onnx()
    opset = _check_opset(opset)
    batch = _check_batch(batch)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    size = int(model.flame.image_size)
    was_training = model.training
    device = next(model.parameters()).device
    wrapper = ExportableHead(model.cpu().eval())
    example = torch.rand(batch or _TRACE_BATCH, 3, size, size, generator=torch.Generator().manual_seed(0))
    dynamic = None if batch else {name: {0: "batch"} for name in (ONNX_INPUT, *ONNX_OUTPUTS)}
    try:
        with atomic_path(path) as tmp:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore", torch.jit.TracerWarning)  # shape checks frozen at trace time
                warnings.simplefilter("ignore", DeprecationWarning)  # dynamo=False is deliberate (module doc)
                torch.onnx.export(
                    wrapper,
                    (example,),
                    str(tmp),
                    dynamo=False,
                    opset_version=opset,
                    input_names=[ONNX_INPUT],
                    output_names=list(ONNX_OUTPUTS),
                    dynamic_axes=dynamic,
                    do_constant_folding=True,
                )
            graph = onnx.load(str(tmp))
            for key, value in model_metadata(model).items():
                graph.metadata_props.add(key=key, value=value)
            graph.metadata_props.add(key="trans3dhead.batch", value=str(batch or "dynamic"))
            onnx.checker.check_model(graph)
            onnx.save(graph, str(tmp))
    finally:
        model.to(device).train(was_training)
    logger.info("exported %s (opset %d, input %dx%d, batch %s)", path, opset, size, size, batch or "dynamic")
    return path
