"""FLAME: pure LBS functions, validated assets, file loaders and the FLAME layer."""

from trans3dhead.flame.assets import CHAMFER_KEYPOINTS, AssetError, FlameAssets, FlameAux, FlameModelData
from trans3dhead.flame.files import embedded_assets, load_assets, load_flame_aux, load_flame_model
from trans3dhead.flame.layer import MESH_OFFSET_Z, FlameLayer, FlameOutput
from trans3dhead.flame.params import FlameParams, ParamLayout

__all__ = [
    "AssetError",
    "CHAMFER_KEYPOINTS",
    "FlameAssets",
    "FlameAux",
    "FlameLayer",
    "FlameModelData",
    "FlameOutput",
    "FlameParams",
    "MESH_OFFSET_Z",
    "ParamLayout",
    "embedded_assets",
    "load_assets",
    "load_flame_aux",
    "load_flame_model",
]
