"""trans3dhead: 3D dense head alignment from a single image (Trans3DHead, DAD-3DNet, FLAME, DAD-3DHeads).

The two-line API::

    from trans3dhead import HeadAligner
    heads = HeadAligner.from_checkpoint("runs/demo/run/best.pt").predict(image)  # RGB uint8 (H, W, 3)
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["HeadAligner", "HeadPrediction", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy: `import trans3dhead.geometry` (or the CLI) must not pay for the inference stack.
    if name in ("HeadAligner", "HeadPrediction"):
        from trans3dhead import api

        return getattr(api, name)
    raise AttributeError(f"module 'trans3dhead' has no attribute {name!r}")
