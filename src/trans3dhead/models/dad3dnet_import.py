"""Import the released DAD-3DNet: the authors' TorchScript file -> a trans3dhead checkpoint.

The DAD-3DHeads authors publish their trained DAD-3DNet as a TorchScript file, ``dad_3dheads.trcd`` (their
``predictor.py`` keeps it in ``~/.dad_checkpoints/``).  :func:`import_dad3dnet` reads it on the CPU without
running it, renames every tensor to this project's :class:`~trans3dhead.models.dad3dnet.DAD3DNet`
(:data:`MAPPING`), checks every shape, refuses a file with a tensor missing or left over (listing them) and
writes a normal checkpoint whose config rebuilds the exact reference network and its pre- and
post-processing:

* ``model.backbone=resnet50_v1`` (pytorchcv's ResNet-50: the stride in each downsampling bottleneck's first
  1x1 convolution), ``model.bifpn_fusion=reference`` (fusion weights ``w / sum(w) + eps``);
* ``model.crop=reference``: the reference predictor's input (longest side resized to 256 with OpenCV, zero
  padding of ``floor((256 - side) / 2)`` before, ImageNet normalisation);
* ``model.landmarks=branch``: the 68 landmarks of the landmark head, clipped to the crop and mapped back to
  the image, as the reference predictor draws them;
* ``flame``: 300 shape + 100 expression + jaw (413 parameters, the reference's ``dad_3dnet.yaml``).

Letters: none (state dicts).  The file's tensors may sit under a common prefix (a wrapper module); it is
found from the stem convolution's name and stripped.
"""

from __future__ import annotations

import hashlib
import re
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from trans3dhead.errors import InputError

__all__ = [
    "MAPPING",
    "REFERENCE_STEM",
    "ImportSummary",
    "ReferenceImportError",
    "Renamed",
    "imported_config",
    "import_dad3dnet",
    "project_name",
    "read_torchscript_tensors",
    "reference_to_project",
]

#: The name of the reference's stem convolution, which locates its tensors in the file.
REFERENCE_STEM = "encoder.model.init_block.conv.conv.weight"
#: Tensors of the project's model that the reference file does not hold (built by the config).
PROJECT_ONLY_PREFIXES = ("normalize.",)
#: Tensors the file may lack: BatchNorm batch counters, unused at inference (taken as 0).
_OPTIONAL_SUFFIX = ".num_batches_tracked"
_HEADS = {"shape": "shape_head", "pose": "pose_head", "landmarks": "landmark_head"}
_SHOWN = 12  # names listed per problem in an error


class ReferenceImportError(InputError):
    """The file is not the reference DAD-3DNet TorchScript, or does not fit the project's network."""


def _backbone(match: re.Match[str]) -> str | None:
    from trans3dhead.models.imagenet import pytorchcv_to_torchvision

    (renamed,) = pytorchcv_to_torchvision({f"features.{match[1]}": torch.empty(0)})
    return None if renamed.startswith("features.") else f"backbone.{renamed}"


Rule = tuple[str, str, re.Pattern[str], Callable[[re.Match[str]], str | None]]


def _rule(reference: str, project: str, pattern: str, target: Callable[[re.Match[str]], str | None]) -> Rule:
    return reference, project, re.compile(pattern), target


#: (reference name pattern, project name pattern, regex, renaming) per row of the mapping.  ``*`` is a
#: parameter or buffer name (weight, bias, running_mean, running_var, num_batches_tracked).
MAPPING: tuple[Rule, ...] = (
    _rule(
        "encoder.model.init_block.conv.{conv,bn}.*",
        "backbone.{conv1,bn1}.*",
        r"^encoder\.model\.(init_block\..+)$",
        _backbone,
    ),
    _rule(
        "encoder.model.stageI.unitJ.body.convK.{conv,bn}.*",
        "backbone.layerI.<J-1>.{convK,bnK}.*",
        r"^encoder\.model\.(stage\d\.unit\d+\.body\..+)$",
        _backbone,
    ),
    _rule(
        "encoder.model.stageI.unitJ.identity_conv.{conv,bn}.*",
        "backbone.layerI.<J-1>.downsample.{0,1}.*",
        r"^encoder\.model\.(stage\d\.unit\d+\.identity_conv\..+)$",
        _backbone,
    ),
    _rule(
        "bifpn.p{3,4,5}.*",
        "bifpn.lateral.{0,1,2}.*",
        r"^bifpn\.p([345])\.(weight|bias)$",
        lambda m: f"bifpn.lateral.{int(m[1]) - 3}.{m[2]}",
    ),
    _rule("bifpn.p6.*", "bifpn.p6.*", r"^bifpn\.p6\.(weight|bias)$", lambda m: f"bifpn.p6.{m[1]}"),
    _rule(
        "bifpn.p7.{conv,bn}.*",
        "bifpn.p7.{0,1}.*",
        r"^bifpn\.p7\.(conv|bn)\.(.+)$",
        lambda m: f"bifpn.p7.{0 if m[1] == 'conv' else 1}.{m[2]}",
    ),
    _rule(
        "bifpn.bifpn.B.p{6,5,4,3}_td.{depthwise,pointwise,bn}.*",
        "bifpn.blocks.B.top_down.{0,1,2,3}.{depthwise,pointwise,bn}.*",
        r"^bifpn\.bifpn\.(\d+)\.p([3-6])_td\.(.+)$",
        lambda m: f"bifpn.blocks.{m[1]}.top_down.{6 - int(m[2])}.{m[3]}",
    ),
    _rule(
        "bifpn.bifpn.B.p{4,5,6,7}_out.{depthwise,pointwise,bn}.*",
        "bifpn.blocks.B.bottom_up.{0,1,2,3}.{depthwise,pointwise,bn}.*",
        r"^bifpn\.bifpn\.(\d+)\.p([4-7])_out\.(.+)$",
        lambda m: f"bifpn.blocks.{m[1]}.bottom_up.{int(m[2]) - 4}.{m[3]}",
    ),
    _rule(
        "bifpn.bifpn.B.{w1,w2}",
        "bifpn.blocks.B.{top_down_weights,bottom_up_weights}",
        r"^bifpn\.bifpn\.(\d+)\.(w1|w2)$",
        lambda m: f"bifpn.blocks.{m[1]}.{'top_down' if m[2] == 'w1' else 'bottom_up'}_weights",
    ),
    _rule("head.heatmap.*", "heatmap.*", r"^head\.heatmap\.(weight|bias)$", lambda m: f"heatmap.{m[1]}"),
    _rule(
        "fusion_layer.conv1x1.*",
        "fusion.conv.*",
        r"^fusion_layer\.conv1x1\.(weight|bias)$",
        lambda m: f"fusion.conv.{m[1]}",
    ),
    _rule(
        "{shape,pose,landmarks}.logit_image.{0,3}.*",
        "{shape_head,pose_head,landmark_head}.mlp.{0,3}.*",
        r"^(shape|pose|landmarks)\.logit_image\.([03])\.(weight|bias)$",
        lambda m: f"{_HEADS[m[1]]}.mlp.{m[2]}.{m[3]}",
    ),
)


def project_name(reference: str) -> str | None:
    """The project's name for a reference tensor name (prefix already stripped), or None if no rule fits."""
    for _, _, pattern, target in MAPPING:
        match = pattern.match(reference)
        if match is not None:
            return target(match)
    return None


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:_SHOWN])
    return shown + (f", ... ({len(names) - _SHOWN} more)" if len(names) > _SHOWN else "")


def read_torchscript_tensors(path: str | Path) -> dict[str, Tensor]:
    """Every parameter and buffer of a TorchScript file, loaded on the CPU; the module is never run.

    Raises:
        FileNotFoundError: no such file.
        ReferenceImportError: not a TorchScript file (not a zip archive, a zip without TorchScript code
            such as a ``torch.save`` checkpoint), a truncated or damaged one, or one torch cannot load.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic != b"PK\x03\x04":
        raise ReferenceImportError(
            f"{path}: not a TorchScript file (TorchScript files are zip archives; this one starts with "
            f"{magic!r})"
        )
    if not zipfile.is_zipfile(path):
        raise ReferenceImportError(
            f"{path}: truncated or damaged file (its zip directory is missing): download it again"
        )
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    if not any("/code/" in name for name in names):
        raise ReferenceImportError(
            f"{path}: a PyTorch archive without TorchScript code (a torch.save file?); the importer reads "
            "the TorchScript file dad_3dheads.trcd"
        )
    try:
        with warnings.catch_warnings():  # TorchScript is the file's format: its deprecation is not ours
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # torch raises RuntimeError and others for damaged archives
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ReferenceImportError(
            f"{path}: TorchScript file could not be loaded ({type(exc).__name__}: {first}); it may be "
            "truncated or damaged: download it again"
        ) from exc
    return {name: tensor.detach() for name, tensor in module.state_dict().items()}


def _prefix(names: list[str], source: str) -> str:
    stems = [name for name in names if name.endswith(REFERENCE_STEM)]
    if len(stems) != 1:
        found = "no" if not stems else f"{len(stems)}"
        raise ReferenceImportError(
            f"{source}: not the DAD-3DNet reference model: {found} '{REFERENCE_STEM}' tensor(s) among its "
            f"{len(names)} tensors ({_listing(names)})"
        )
    return stems[0][: -len(REFERENCE_STEM)]


@dataclass
class Renamed:
    """The file's tensors under the project's names.

    mapped: project name -> tensor; origin: project name -> the file's name; unmapped: the file's names
    no rule of :data:`MAPPING` renames; prefix: the common prefix stripped from the file's names.
    """

    mapped: dict[str, Tensor]
    origin: dict[str, str]
    unmapped: list[str]
    prefix: str


def reference_to_project(tensors: dict[str, Tensor], *, source: str = "<tensors>") -> Renamed:
    """Rename the reference tensors to the project's names (:data:`MAPPING`).

    Raises:
        ReferenceImportError: no reference stem, or two reference names map to one project name.
    """
    prefix = _prefix(list(tensors), source)
    renamed = Renamed(mapped={}, origin={}, unmapped=[], prefix=prefix)
    for name, tensor in tensors.items():
        target = project_name(name[len(prefix) :]) if name.startswith(prefix) else None
        if target is None:
            renamed.unmapped.append(name)
        elif target in renamed.mapped:
            raise ReferenceImportError(f"{source}: {renamed.origin[target]} and {name} both map to {target}")
        else:
            renamed.mapped[target], renamed.origin[target] = tensor, name
    return renamed


def _check(renamed: Renamed, expected: dict[str, Tensor], source: str) -> None:
    """Every expected tensor present with its shape, nothing left over; one error listing all problems."""
    mapped = renamed.mapped
    wanted = {k: v for k, v in expected.items() if not k.startswith(PROJECT_ONLY_PREFIXES)}
    missing = [k for k in wanted if k not in mapped and not k.endswith(_OPTIONAL_SUFFIX)]
    extra = [*renamed.unmapped, *(f"{renamed.origin[k]} (as {k})" for k in mapped if k not in wanted)]
    shapes = [
        f"{renamed.origin[k]} (as {k}): {tuple(v.shape)} in the file, {tuple(wanted[k].shape)} expected"
        for k, v in mapped.items()
        if k in wanted and v.shape != wanted[k].shape
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} tensor(s) missing (project names): {_listing(missing)}")
    if extra:
        problems.append(f"{len(extra)} tensor(s) left over: {_listing(extra)}")
    if shapes:
        problems.append(f"{len(shapes)} shape mismatch(es): {_listing(shapes)}")
    if problems:
        raise ReferenceImportError(
            f"{source}: does not fit the DAD-3DNet reference architecture (ResNet-50 v1, BiFPN 256 x 2, 68 "
            f"landmarks, 413 parameters): {'; '.join(problems)}"
        )


def imported_config(*, flame: str | Path | None = None, aux: str | Path | None = None):
    """The :class:`~trans3dhead.config.Config` of the released DAD-3DNet (see the module docstring)."""
    from trans3dhead.config import DAD3DNET_WEIGHTS, config_from_dict

    def absolute(path: str | Path | None) -> str | None:
        return None if path is None else str(Path(path).expanduser().resolve())

    data = {
        "model": {
            "arch": "dad3dnet",
            "backbone": "resnet50_v1",
            "pretrained": "none",
            "input_size": 256,
            "pose_init": "reference",
            "bifpn_fusion": "reference",
            "crop": "reference",
            "landmarks": "branch",
        },
        "flame": {
            "file": absolute(flame),
            "aux": absolute(aux),
            "num_shape": 300,
            "num_expression": 100,
            "jaw": True,
        },
        "loss": {"weights": dict(DAD3DNET_WEIGHTS)},
    }
    return config_from_dict(data, source="import dad3dnet")


@dataclass
class ImportSummary:
    """What :func:`import_dad3dnet` wrote."""

    source: Path
    out: Path
    sha256: str
    prefix: str
    tensors: int
    parameters: int
    defaulted: list[str] = field(default_factory=list)  # optional tensors the file lacked
    flame: str | None = None
    aux: str | None = None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def import_dad3dnet(
    source: str | Path, out: str | Path, *, flame: str | Path | None = None, aux: str | Path | None = None
) -> ImportSummary:
    """Convert the reference TorchScript ``source`` into the checkpoint ``out``; nothing is written on error.

    ``flame`` / ``aux``: the FLAME model file and DAD-3DHeads auxiliary folder stored in the checkpoint's
    config (absolute paths); without them the commands fall back to ``--flame`` / ``$TRANS3DHEAD_FLAME`` or
    the embedded stand-in model.  They are loaded here once, so that a wrong file fails now.
    """
    from trans3dhead.checkpoint import save_checkpoint
    from trans3dhead.config import config_to_dict
    from trans3dhead.models.build import build_assets, build_model

    source = Path(source)
    tensors = read_torchscript_tensors(source)
    renamed = reference_to_project(tensors, source=str(source))
    config = imported_config(flame=flame, aux=aux)
    model = build_model(config, build_assets(config.flame))
    expected = model.state_dict()
    _check(renamed, expected, str(source))
    mapped = renamed.mapped
    state = {k: mapped[k].to(v.dtype) if k in mapped else v for k, v in expected.items()}
    model.load_state_dict(state)  # strict: the final word on names and shapes
    digest = _sha256(source)
    payload = {
        "model": model.state_dict(),
        "config": config_to_dict(config),
        "imported": {
            "from": "DAD-3DNet TorchScript (PinataFarms/DAD-3DHeads)",
            "source": str(source),
            "sha256": digest,
            "prefix": renamed.prefix,
            "tensors": len(mapped),
        },
    }
    save_checkpoint(out, payload)
    return ImportSummary(
        source=source,
        out=Path(out),
        sha256=digest,
        prefix=renamed.prefix,
        tensors=len(mapped),
        parameters=sum(p.numel() for p in model.parameters()),
        defaulted=[k for k in expected if k not in mapped and not k.startswith(PROJECT_ONLY_PREFIXES)],
        flame=config.flame.file,
        aux=config.flame.aux,
    )
