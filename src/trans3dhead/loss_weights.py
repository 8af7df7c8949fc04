"""The loss names and weight sets, as plain data (no torch): `config` reads them without importing the
losses; `losses.criterion` re-exports them.

:data:`TRANS3DHEAD_WEIGHTS` is the paper's Eq. 8; :data:`DAD3DNET_WEIGHTS` the reference code's.
"""

from __future__ import annotations

from types import MappingProxyType

__all__ = [
    "LOSS_NAMES",
    "TRANS3DHEAD_WEIGHTS",
    "DAD3DNET_WEIGHTS",
    "SHAPE3D_SUBSETS",
    "REPROJECTION_SUBSETS",
]

LOSS_NAMES = ("landmarks", "shape3d", "reprojection", "euler", "geodesic", "heatmap")
#: Trans3DHead, paper Eq. 8.
TRANS3DHEAD_WEIGHTS = MappingProxyType(
    {"landmarks": 300.0, "shape3d": 50.0, "reprojection": 0.05, "euler": 0.05}
)
#: DAD-3DNet as in its reference code (which produced its published numbers).
DAD3DNET_WEIGHTS = MappingProxyType(
    {"landmarks": 100.0, "shape3d": 50.0, "reprojection": 0.05, "heatmap": 1.0}
)
SHAPE3D_SUBSETS = MappingProxyType({"head_without_back": 0.5, "head": 0.75, "face": 1.0})
REPROJECTION_SUBSETS = MappingProxyType({"face": 0.5, "head": 0.5})
