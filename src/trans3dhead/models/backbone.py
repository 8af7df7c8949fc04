"""The CNN backbone contract, loading of local pretrained weights, and the backbone registry.

Letters: B batch, C channels, H/W image or feature-map size, S stride.

A backbone maps normalised images to feature maps keyed by their stride (4, 8, 16, 32).  ImageNet
mean/std normalisation is not done inside the backbone: the head-alignment models apply their own
:class:`~trans3dhead.models.normalize.ImageNormalizer` (registered buffers) first, so a backbone's input
is already ``(image / 255 - mean) / std``.

torchvision and timm are not dependencies: ResNet-18/34/50 and MobileNetV2 are written here with
torchvision's state-dict names, so torchvision's ImageNet ``.pth`` files load directly
(:meth:`Backbone.load_pretrained`).  ``timm:<name>`` backbones are used when timm is installed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from trans3dhead.errors import InputError

__all__ = [
    "BACKBONE_NAMES",
    "Backbone",
    "LoadReport",
    "PretrainedWeightsError",
    "build_backbone",
    "check_images",
    "read_state_dict",
    "register_backbone",
    "registered_backbones",
]

logger = logging.getLogger(__name__)

#: Names accepted by :func:`build_backbone` besides ``timm:<name>``.
BACKBONE_NAMES = ("resnet18", "resnet34", "resnet50", "resnet50_v1", "mobilenet_v2")


class PretrainedWeightsError(InputError):
    """A weights file is missing, unreadable, or does not match the backbone."""


@dataclass(frozen=True)
class LoadReport:
    """What :meth:`Backbone.load_pretrained` did: keys loaded, missing from the file, not in the model,
    with mismatched shapes, and classifier keys skipped because the backbone has no classifier."""

    loaded: tuple[str, ...]
    missing: tuple[str, ...]
    unexpected: tuple[str, ...]
    mismatched: tuple[str, ...]
    ignored: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def describe(self, limit: int = 5) -> str:
        ignored = f"{len(self.ignored)} classifier (or unbuilt stage) tensors ignored"
        parts = [f"{len(self.loaded)} tensors loaded, {ignored}"]
        for label, keys in (("missing", self.missing), ("unexpected", self.unexpected)):
            if keys:
                more = f" (+{len(keys) - limit} more)" if len(keys) > limit else ""
                parts.append(f"{len(keys)} {label}: {', '.join(keys[:limit])}{more}")
        if self.mismatched:
            parts.append(f"{len(self.mismatched)} with wrong shape: {', '.join(self.mismatched[:limit])}")
        return "; ".join(parts)


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Read a state dict saved with ``torch.save`` (safely: ``weights_only=True``, on the CPU)."""
    path = Path(path)
    if not path.is_file():
        raise PretrainedWeightsError(f"pretrained weights file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types here: report them all the same way
        raise PretrainedWeightsError(f"cannot read pretrained weights {path}: {error}") from error
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise PretrainedWeightsError(f"{path} does not hold a plain state dict (name -> tensor)")
    return dict(state)


class Backbone(nn.Module):
    """Base class: a CNN split into consecutive stages, each ending at one stride.

    Subclasses call ``super().__init__(strides=..., stage_channels=...)`` and implement
    :meth:`forward_stage`.  Stages beyond the largest requested stride are still built (so pretrained
    files load whole and :meth:`forward_stage` can run them, as DAD-3DNet does) but are not run by
    :meth:`forward`.

    Args:
        strides: which strides :meth:`forward` returns, a non-empty subset of ``stage_channels``.
        stage_channels: channels of every stage's output, keyed by stride, in stage order.
        classifier_prefixes: state-dict prefixes of an ImageNet classifier, or of stages this backbone
            does not build (ignored when absent).
    """

    #: False for backbones that can only return features, not run one stage at a time.
    supports_stages: bool = True

    def __init__(
        self,
        *,
        strides: Sequence[int],
        stage_channels: Mapping[int, int],
        classifier_prefixes: tuple[str, ...] = (),
    ) -> None:
        super().__init__()
        self.stage_channels: dict[int, int] = dict(stage_channels)
        self.strides: tuple[int, ...] = _check_strides(strides, tuple(self.stage_channels))
        self.channels: dict[int, int] = {s: self.stage_channels[s] for s in self.strides}
        self.classifier_prefixes = classifier_prefixes
        self.dilated_stride: int | None = None  # see dilate_stage

    @property
    def built_strides(self) -> tuple[int, ...]:
        """The stages this backbone has weights for and can run (all of ``stage_channels`` unless a
        subclass builds fewer)."""
        return tuple(self.stage_channels)

    def forward_stage(self, stride: int, features: Tensor) -> Tensor:
        """Run the stage ending at ``stride`` on the previous stage's output (the images for the first):
        (B, C_prev, H_prev, W_prev) -> (B, stage_channels[stride], H / stride, W / stride)."""
        raise NotImplementedError(f"{type(self).__name__} cannot run its stages one at a time")

    def forward(self, images: Tensor) -> dict[int, Tensor]:
        """images (B, 3, H, W), ImageNet-normalised -> {S: (B, channels[S], H / S, W / S)}."""
        check_images(images)
        out, x = {}, images
        for stride in self.stage_channels:
            if stride > self.strides[-1]:
                break
            x = self.forward_stage(stride, x)
            if stride in self.channels:
                out[stride] = x
        return out

    def stage_modules(self, stride: int) -> nn.Module:
        """The module(s) of the stage ending at ``stride`` (for :meth:`dilate_stage`)."""
        raise ValueError(
            f"{type(self).__name__} does not expose its stages, so none can be dilated "
            "(the resnet* and mobilenet_v2 backbones can)"
        )

    def dilate_stage(self, stride: int) -> None:
        """Run the stage ending at ``stride`` at the previous stage's resolution (DeepLab's atrous
        backbone): its stride-2 convolutions get stride 1 and every larger-than-1x1 convolution after the
        first of them dilation 2 (padding kept "same"), so each sees the neighbourhood it saw before, one
        pixel apart instead of two.  The weights are unchanged (a checkpoint of either form loads into the
        other) and the stage's output has twice the side: stride ``stride / 2``.  One stage per backbone
        (a later stage would need dilation 4), not the stride-4 stem."""
        name = type(self).__name__
        if stride not in self.built_strides or stride == 4:
            strides = tuple(s for s in self.built_strides if s != 4)
            raise ValueError(f"{name} can dilate its stage at one of the strides {strides}, got {stride}")
        if self.dilated_stride is not None:
            raise ValueError(f"the stride-{self.dilated_stride} stage of this {name} is already dilated")
        convs = [m for m in self.stage_modules(stride).modules() if isinstance(m, nn.Conv2d)]
        strided = [i for i, conv in enumerate(convs) if conv.stride != (1, 1)]
        if not strided or any(convs[i].stride != (2, 2) for i in strided):
            raise ValueError(f"the stride-{stride} stage of {name} does not downsample by 2")
        after = convs[strided[0] + 1 :]
        spatial = [c for c in after if c.stride == (1, 1) and c.kernel_size != (1, 1)]
        for conv in spatial:  # checked before anything changes: a refused stage is left as it was
            if conv.dilation != (1, 1) or conv.padding != tuple(k // 2 for k in conv.kernel_size):
                raise ValueError(f"cannot dilate {name}'s stride-{stride} stage: {conv}")
        for index in strided:
            convs[index].stride = (1, 1)
        for conv in spatial:
            conv.dilation = (2, 2)
            conv.padding = tuple(2 * (k // 2) for k in conv.kernel_size)
        self.dilated_stride = stride

    def load_pretrained(self, path: str | Path, *, strict: bool = True) -> LoadReport:
        """Load a local state-dict file (e.g. torchvision's ImageNet ``resnet50-*.pth``).

        Classifier tensors (``fc.*``, ``classifier.*``) are skipped when this backbone has no classifier.
        With ``strict`` any missing, unexpected or wrongly shaped tensor raises
        :class:`PretrainedWeightsError` naming them and nothing is loaded; otherwise the matching tensors
        are loaded and the rest is logged as a warning.
        """
        report, matching = self._match(self.convert_state_dict(read_state_dict(path)))
        if not report.ok:
            if strict:
                raise PretrainedWeightsError(
                    f"{path} does not match {type(self).__name__}: {report.describe()}"
                )
            logger.warning("partial load of %s: %s", path, report.describe())
        self.load_state_dict(matching, strict=False)
        logger.info("loaded %s: %s", path, report.describe())
        return report

    def convert_state_dict(self, state: dict[str, Tensor]) -> dict[str, Tensor]:
        """Rename another library's keys to this backbone's (identity here; ResNet maps pytorchcv's)."""
        return state

    def _match(self, state: Mapping[str, Tensor]) -> tuple[LoadReport, dict[str, Tensor]]:
        own = self.state_dict()
        ignored = [k for k in state if k not in own and k.startswith(self.classifier_prefixes)]
        candidates = {k: v for k, v in state.items() if k not in ignored}
        mismatched = [
            f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}"
            for k, v in candidates.items()
            if k in own and v.shape != own[k].shape
        ]
        matching = {k: v for k, v in candidates.items() if k in own and v.shape == own[k].shape}
        report = LoadReport(
            loaded=tuple(matching),
            missing=tuple(k for k in own if k not in candidates),
            unexpected=tuple(k for k in candidates if k not in own),
            mismatched=tuple(mismatched),
            ignored=tuple(ignored),
        )
        return report, matching


def check_images(images: Tensor) -> None:
    """Raise a clear error unless ``images`` is a (B, 3, H, W) floating-point batch."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must have shape (B, 3, H, W), got {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ValueError(f"images must be floating point (ImageNet-normalised), got {images.dtype}")


def _check_strides(strides: Sequence[int], available: tuple[int, ...]) -> tuple[int, ...]:
    chosen = tuple(sorted(set(strides)))
    if not chosen:
        raise ValueError(f"strides must name at least one of {available}, got {tuple(strides)}")
    unknown = [s for s in chosen if s not in available]
    if unknown or len(chosen) != len(strides):
        raise ValueError(f"strides {tuple(strides)} must be distinct values among {available}")
    return chosen


_NAMED: dict[str, Callable[[str, Sequence[int]], Backbone]] = {}
_PREFIXED: dict[str, Callable[..., Backbone]] = {}


def register_backbone(*names: str, prefix: bool = False) -> Callable[[Callable], Callable]:
    """Decorator (timm's registry): each backbone module registers its own builder, so this module
    imports none of them (``trans3dhead.models`` imports them all, which fills the registry).

    A named builder is called as ``builder(name, strides)``; with ``prefix=True`` the names are
    prefixes such as ``"timm:"`` and the builder is called as ``builder(rest, strides, pretrained)``
    and loads its own weights.
    """

    def decorate(builder: Callable) -> Callable:
        table = _PREFIXED if prefix else _NAMED
        for name in names:
            if name in table:
                raise ValueError(f"backbone {name!r} is registered twice")
            table[name] = builder
        return builder

    return decorate


def registered_backbones() -> tuple[str, ...]:
    """The names :func:`build_backbone` accepts, prefixes (``"timm:"``) excluded."""
    return tuple(_NAMED)


def build_backbone(
    name: str, *, pretrained: str | Path | None = None, strides: Sequence[int] = (32,)
) -> Backbone:
    """Build a backbone by name and optionally load weights.

    Args:
        name: one of :data:`BACKBONE_NAMES`, or ``"timm:<model name>"`` (needs timm installed).
        pretrained: None or "none" (random init), a path to a local state-dict file (torchvision's or
            pytorchcv's names), or ``"imagenet"``: the backbone's published ImageNet file, found offline
            (:func:`trans3dhead.models.imagenet.find_imagenet_weights`), or timm's own pretrained weights
            for ``timm:`` names.
        strides: strides the backbone returns, among 4, 8, 16, 32.
    """
    for prefix, builder in _PREFIXED.items():
        if name.startswith(prefix):
            if pretrained is not None and str(pretrained).strip().lower() in ("none", "null", ""):
                pretrained = None
            return builder(name[len(prefix) :], strides, pretrained)
    if name not in _NAMED:
        raise ValueError(f"unknown backbone '{name}'; choose one of {BACKBONE_NAMES} or 'timm:<name>'")
    from trans3dhead.models.imagenet import resolve_pretrained

    path = resolve_pretrained(name, pretrained)
    backbone = _NAMED[name](name, strides)
    if path is not None:
        backbone.load_pretrained(path)
    return backbone
