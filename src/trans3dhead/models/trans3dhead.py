"""Trans3DHead (paper section 3): a CNN backbone, a low-resolution memory and two transformer branches.

Letters: B batch, C channels (= d_model), h/w memory size, S = h * w memory tokens, K FLAME parameters,
N landmarks (68), L decoder layers, V vertices.

    images -> backbone -> stride-32 features -> 1x1 conv to C -> memory (B, S, C) + sine positions
           -> [optional encoder layers]
           -> 3DMM branch: K learned queries -> decoder -> one scalar per query -> params (B, K) -> FLAME
              (or Q < K queries reading G values each: ``params_per_query``, the lite configs)
           -> landmark branch (multi-task): N queries (MQinit) -> decoder (+QAMem) -> MARR -> (L, B, N, 2)

Every ablation of the paper (Tables 3-8) is an argument of :func:`build_trans3dhead`: ``qamem`` and
``mqinit`` ("off", "landmarks" = landmark branch only, "both"), ``marr`` (Table 4 variants or "off"),
``num_encoder_layers`` / ``num_decoder_layers`` (Table 3 right), the parameter count through the FLAME
layer's :class:`~trans3dhead.flame.ParamLayout` (Table 8) and ``multitask`` (Table 7: without the
landmark branch the landmarks are the FLAME-projected 68 points).  The Euler loss switch is a criterion
weight (:mod:`trans3dhead.losses`).

Queries follow DETR: each branch has learned query positions added at every layer; the decoder input
is zero ("off") or ``FC(GAP(M))`` (MQinit, Eq. 1).

**Initial prediction.**  The 3DMM readout is a Linear(C, 1) shared by all queries (as DETR shares its
prediction FFNs; the queries carry the per-parameter identity) plus a learned per-parameter offset.
The readout weights start tiny (N(0, 1e-3)), so the first predictions are essentially the offset,
which :func:`initial_params` sets to FLAME's mean head (zero shape and expression), frontal
(``R = diag(1, -1, -1)``: FLAME's y-up, z-towards-camera frame seen by the image's y-down camera), and
scaled and centred so that the head-subset's bounding box fills ``initial_fill`` (0.8) of the crop --
DAD-3DHeads crops extend the head box by 5-15% per side, so a head fills 77-91% of the crop.  Starting
from a zero vector instead would give ``scale + 1 = 1``: a 0.2 m FLAME head 25 px wide, and the
reprojection loss (in pixels) would dominate the first epochs.  The default MARR mean face is the
same head's projected 68 landmarks, until :meth:`Trans3DHead.set_mean_face` sets the training mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from trans3dhead.flame.layer import FlameLayer
from trans3dhead.frames import BRANCH_MODES, READOUTS, heads_split_width
from trans3dhead.models.decoder import MemoryQueryInit, TransformerDecoder, TransformerEncoder
from trans3dhead.models.initial import FRONTAL_ROTATION, initial_params
from trans3dhead.models.marr import MARR_MODES, MEAN_FACE_MODES, LandmarkHead, MarrMode
from trans3dhead.models.normalize import ImageNormalizer
from trans3dhead.models.positional import SinePositionEncoding
from trans3dhead.types import HeadOutput

__all__ = [
    "BranchMode",
    "BRANCH_MODES",
    "FRONTAL_ROTATION",
    "Trans3DHead",
    "build_trans3dhead",
    "initial_params",
    "query_slots",
]

#: One of :data:`BRANCH_MODES`; the 3DMM branch's readout is one of :data:`READOUTS` (both in
#: :mod:`trans3dhead.frames`; see :class:`ParamBranch`).
BranchMode = str
_READOUT_STD = 1e-3


class QueryDecoder(nn.Module):
    """Q learned query positions, optional MQinit (Eq. 1) and a DETR decoder (+ QAMem): the part both
    branches share.  :meth:`decode` gives the per-layer query features (L, B, Q, C)."""

    def __init__(
        self,
        *,
        num_queries: int,
        d_model: int,
        nhead: int,
        num_layers: int,
        dim_feedforward: int,
        dropout: float,
        qamem: bool,
        mqinit: bool,
    ) -> None:
        super().__init__()
        self.query_pos = nn.Parameter(torch.randn(num_queries, d_model))  # (Q, C), as DETR's nn.Embedding
        self.query_init = MemoryQueryInit(num_queries=num_queries, channels=d_model) if mqinit else None
        self.decoder = TransformerDecoder(
            num_layers=num_layers,
            d_model=d_model,
            nhead=nhead,
            dim_feedforward=dim_feedforward,
            dropout=dropout,
            num_queries=num_queries,
            qamem=qamem,
        )

    def decode(self, memory: Tensor, pos: Tensor) -> Tensor:
        """memory (B, S, C), pos (S, C) -> query features of every decoder layer (L, B, Q, C)."""
        tgt = _initial_queries(self.query_init, memory, self.query_pos)
        return self.decoder(tgt, memory, pos, self.query_pos)


def query_slots(blocks: Sequence[int], params_per_query: int) -> tuple[int, tuple[int, ...]]:
    """Which query reads which 3DMM value when each query reads up to G = ``params_per_query`` values.

    Every block of the parameter layout (``ParamLayout.sizes``: shape, expression, jaw, rotation,
    translation, scale) is cut into ``ceil(n / G)`` near-equal chunks of consecutive values, one query
    each, so that no query mixes blocks.  Returns Q and, for each of the K values, its slot ``q * G + j``
    in the (Q, G) readout grid.  G = 1 is the paper's one query per value (Q = K, slot k = k).
    """
    if isinstance(params_per_query, bool) or not isinstance(params_per_query, int) or params_per_query < 1:
        raise ValueError(f"params_per_query must be a positive integer, got {params_per_query!r}")
    slots: list[int] = []
    queries = 0
    for size in blocks:
        chunks = -(-size // params_per_query)  # ceil
        for chunk in range(chunks):
            length = size // chunks + (chunk < size % chunks)  # near-equal: the first chunks one longer
            slots += [(queries + chunk) * params_per_query + j for j in range(length)]
        queries += chunks
    return queries, tuple(slots)


class ParamBranch(QueryDecoder):
    """The 3DMM branch: Q learned queries -> decoder -> G values per query -> params (B, K).

    The paper has one query per value (G = 1, Q = K = 413).  ``params_per_query`` G > 1 groups them: each
    query reads out a chunk of up to G consecutive values of one layout block (see :func:`query_slots`),
    so Q = 20 queries carry all 413 values at G = 25 -- the lite configs' setting, since the decoder's
    self-attention over 413 queries costs more than a small backbone.  The output is the same 413-vector.

    ``readout="shared"``: one Linear(C, G) for every query, as DETR shares its prediction FFNs (the
    queries carry the parameter's identity).  ``"per_query"``: each query has its own weights (G, C) per
    query, since the 413 values differ in meaning and scale (rotation entries, translation, scale, shape
    coefficients).  Both add the learned per-parameter offset (the initial prediction).
    """

    def __init__(
        self,
        *,
        initial: Tensor,
        readout: str = "shared",
        params_per_query: int = 1,
        blocks: Sequence[int] | None = None,
        **decoder: Any,
    ) -> None:
        blocks = (initial.shape[0],) if blocks is None else tuple(blocks)
        if sum(blocks) != initial.shape[0]:
            raise ValueError(f"blocks {blocks} must add up to the {initial.shape[0]} parameters")
        queries, slots = query_slots(blocks, params_per_query)
        super().__init__(num_queries=queries, **decoder)
        _check_choice("readout", readout, READOUTS)
        channels, group = self.query_pos.shape[1], params_per_query
        self.readout_mode, self.params_per_query = readout, group
        if readout == "shared":
            self.readout = nn.Linear(channels, group)
            nn.init.normal_(self.readout.weight, std=_READOUT_STD)
            nn.init.zeros_(self.readout.bias)
        else:  # (Q * G, C): (K, C) at G = 1, as before grouping existed (checkpoints load unchanged)
            self.readout_weight = nn.Parameter(torch.randn(queries * group, channels) * _READOUT_STD)
        self.offset = nn.Parameter(initial.detach().clone())  # (K,): the initial prediction (and bias)
        identity = slots == tuple(range(len(slots))) and len(slots) == queries * group
        # (K,) index into the flattened (Q, G) readout grid; None when it is the identity (G = 1)
        self.register_buffer("slots", None if identity else torch.tensor(slots), persistent=False)

    def forward(self, memory: Tensor, pos: Tensor) -> Tensor:
        """memory (B, S, C), pos (S, C) -> params (B, K)."""
        hidden = self.decode(memory, pos)[-1]  # (B, Q, C): last layer
        if self.readout_mode == "shared":
            values = self.readout(hidden)  # (B, Q, G)
        else:
            weight = self.readout_weight.view(hidden.shape[1], self.params_per_query, -1)  # (Q, G, C)
            values = (hidden[:, :, None, :] * weight).sum(dim=-1)  # (B, Q, 1, C) * (Q, G, C) -> (B, Q, G)
        values = values.flatten(1)  # (B, Q, G) -> (B, Q * G), query-major
        if self.slots is not None:
            values = values[:, self.slots]  # (B, Q * G) -> (B, K): drop the unused slots of short chunks
        return values + self.offset


class LandmarkBranch(QueryDecoder):
    """The landmark branch: N queries -> decoder (+QAMem) -> per-layer landmarks (L, B, N, 2)."""

    def __init__(self, *, mean_face: Tensor, marr: MarrMode, **decoder: Any) -> None:
        super().__init__(num_queries=mean_face.shape[0], **decoder)
        self.head = LandmarkHead(
            num_layers=decoder["num_layers"],
            channels=self.query_pos.shape[1],
            num_landmarks=mean_face.shape[0],
            mode=marr,
            mean_face=mean_face,
        )

    def forward(self, memory: Tensor, pos: Tensor) -> Tensor:
        """memory (B, S, C), pos (S, C) -> landmarks (L, B, N, 2), normalised crop coordinates."""
        return self.head(self.decode(memory, pos))


def _initial_queries(query_init: MemoryQueryInit | None, memory: Tensor, query_pos: Tensor) -> Tensor:
    """Decoder input (B, Q, C): MQinit from the memory, or zeros as in DETR."""
    if query_init is not None:
        return query_init(memory)
    return memory.new_zeros(memory.shape[0], *query_pos.shape)


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {name}={value!r}")


def build_trans3dhead(
    *,
    backbone: nn.Module,
    flame: FlameLayer,
    d_model: int = 256,
    nhead: int = 8,
    dim_feedforward: int = 2048,
    dropout: float = 0.1,
    num_encoder_layers: int = 0,
    num_decoder_layers: int = 2,
    memory_stride: int = 32,
    qamem: BranchMode = "landmarks",
    mqinit: BranchMode = "landmarks",
    marr: MarrMode = "fixed",
    multitask: bool = True,
    initial_fill: float = 0.8,
    readout: str = "shared",
    params_per_query: int = 1,
) -> Trans3DHead:
    """Trans3DHead with every ablation switch of the paper (defaults: the final model), as DETR's
    ``build()``: the switches choose the parts made here (and FLAME's initial head, a FLAME forward),
    which :class:`Trans3DHead` only wires.

    Args:
        backbone: maps images (B, 3, H, W) to ``{stride: (B, C_s, H / s, W / s)}`` and has
            ``channels: dict[int, int]`` (see :mod:`trans3dhead.models.backbone`).
        flame: the FLAME layer; its layout sets K and its ``image_size`` the crop size the images must have.
        d_model: C, the transformer width (256).
        nhead, dim_feedforward, dropout: DETR's transformer settings (8, 2048, 0.1).
        num_encoder_layers: encoder layers over the memory (0).
        num_decoder_layers: decoder layers of each branch (2).
        memory_stride: the backbone stride used as memory (32).
        qamem: QAMem on "off", "landmarks" (the landmark branch only) or "both" branches.
        mqinit: MQinit on "off", "landmarks" or "both" branches.
        marr: "fixed", "learned_mean", "learned_random" or "off" (see :mod:`trans3dhead.models.marr`).
        multitask: with the landmark branch (False: Table 7's only-3DMM; the landmark-branch settings are
            then unused, while ``qamem`` / ``mqinit`` = "both" still equip the 3DMM branch).
        initial_fill: fraction of the crop the initial head fills (see :func:`initial_params`).
        readout: the 3DMM branch's readout, "shared" or "per_query" (see :class:`ParamBranch`).
        params_per_query: 3DMM values each 3DMM query reads out (1, the paper: one query per value; see
            :func:`query_slots` for G > 1).
    """
    switches = {"qamem": qamem, "mqinit": mqinit, "marr": marr, "multitask": multitask}
    channels = _check_build(backbone, d_model=d_model, nhead=nhead, memory_stride=memory_stride, **switches)
    # made in the order of the parameters' random initialisation before this function existed
    input_proj = nn.Conv2d(channels[memory_stride], d_model, kernel_size=1)
    position = SinePositionEncoding(channels=d_model)
    sizes = {"d_model": d_model, "nhead": nhead, "dim_feedforward": dim_feedforward, "dropout": dropout}
    encoder = TransformerEncoder(num_layers=num_encoder_layers, **sizes)
    initial = initial_params(flame, fill=initial_fill)
    param_branch = ParamBranch(
        initial=initial,
        readout=readout,
        params_per_query=params_per_query,
        blocks=tuple(flame.layout.sizes.values()),
        num_layers=num_decoder_layers,
        qamem=qamem == "both",
        mqinit=mqinit == "both",
        **sizes,
    )
    landmark_branch = None
    if multitask:
        landmark_branch = _landmark_branch(
            flame, initial, num_layers=num_decoder_layers, qamem=qamem, mqinit=mqinit, marr=marr, **sizes
        )
    return Trans3DHead(
        backbone=backbone,
        flame=flame,
        input_proj=input_proj,
        position=position,
        encoder=encoder,
        param_branch=param_branch,
        landmark_branch=landmark_branch,
        memory_stride=memory_stride,
        switches=switches,
    )


def _check_build(
    backbone: nn.Module, *, d_model: int, nhead: int, memory_stride: int, multitask: bool, **modes: str
) -> dict[int, int]:
    """Check the switches and sizes of :func:`build_trans3dhead`; the backbone's channels per stride."""
    _check_choice("qamem", modes["qamem"], BRANCH_MODES)
    _check_choice("mqinit", modes["mqinit"], BRANCH_MODES)
    _check_choice("marr", modes["marr"], MARR_MODES)
    if not heads_split_width(d_model, nhead, multiple_of=4):
        raise ValueError(
            "d_model must be a positive multiple of 4 (sine positions) and of nhead, "
            f"got d_model={d_model}, nhead={nhead}"
        )
    channels = getattr(backbone, "channels", None)
    if not isinstance(channels, dict) or memory_stride not in channels:
        raise ValueError(
            f"backbone must have channels: dict[int, int] including memory_stride={memory_stride}, "
            f"got channels={channels!r}"
        )
    return channels


def _landmark_branch(
    flame: FlameLayer, initial: Tensor, *, qamem: str, mqinit: str, marr: MarrMode, **decoder: Any
) -> LandmarkBranch:
    """The landmark branch, its default MARR mean face the initial head's projected 68 landmarks."""
    with torch.no_grad():
        mean_face = flame(initial[None]).landmarks_2d[0] / flame.image_size  # (N, 2)
    return LandmarkBranch(
        mean_face=mean_face, qamem=qamem != "off", mqinit=mqinit != "off", marr=marr, **decoder
    )


class Trans3DHead(nn.Module):
    """Backbone -> memory (+ sine positions, optional encoder) -> the 3DMM branch -> FLAME, and the
    landmark branch when there is one.  The constructor only wires parts made elsewhere; build one from
    the paper's switches with :func:`build_trans3dhead`.

    Args:
        backbone: maps images to ``{stride: features}`` (see :mod:`trans3dhead.models.backbone`).
        flame: the FLAME layer (its ``image_size`` is the crop size the images must have).
        input_proj: the 1x1 convolution from the ``memory_stride`` features to C channels.
        position: the sine positions of the memory (:class:`SinePositionEncoding` of C channels).
        encoder: the encoder layers over the memory (:class:`TransformerEncoder`, possibly of 0 layers).
        param_branch: the 3DMM branch (:class:`ParamBranch`).
        landmark_branch: the landmark branch (:class:`LandmarkBranch`), or None (landmarks are then the
            FLAME-projected 68 points).
        memory_stride: the backbone stride used as memory.
        switches: the settings it was built with, for reports (``qamem``, ``mqinit``, ``marr``,
            ``multitask``).
    """

    def __init__(
        self,
        *,
        backbone: nn.Module,
        flame: FlameLayer,
        input_proj: nn.Module,
        position: SinePositionEncoding,
        encoder: TransformerEncoder,
        param_branch: ParamBranch,
        landmark_branch: LandmarkBranch | None,
        memory_stride: int = 32,
        switches: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.normalize = ImageNormalizer()
        self.backbone, self.flame = backbone, flame
        self.memory_stride, self.image_size = memory_stride, flame.image_size
        self.switches = dict(switches or {})
        self.input_proj = input_proj
        self.position = position
        self.encoder = encoder
        self.param_branch = param_branch
        self.landmark_branch = landmark_branch

    @property
    def has_landmark_branch(self) -> bool:
        return self.landmark_branch is not None

    @property
    def needs_mean_face(self) -> bool:
        """Whether MARR's ``F_a`` must be set from the training set (modes "fixed" and "learned_mean")."""
        return self.landmark_branch is not None and self.landmark_branch.head.mode in MEAN_FACE_MODES

    def set_mean_face(self, mean_face: Tensor) -> None:
        """Set MARR's ``F_a`` (N, 2), normalised crop coordinates (e.g. from ``mean_face_from_landmarks``)."""
        if self.landmark_branch is None:
            raise ValueError("set_mean_face needs the landmark branch, but this model has multitask=False")
        self.landmark_branch.head.set_mean_face(mean_face)

    def encode(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """images (B, 3, H, W) -> memory (B, S, C) (after the encoder layers) and positions (S, C)."""
        size = self.image_size
        if images.ndim != 4 or tuple(images.shape[1:]) != (3, size, size):
            raise ValueError(f"images must have shape (B, 3, {size}, {size}), got {tuple(images.shape)}")
        features = self.input_proj(self.backbone(self.normalize(images))[self.memory_stride])  # (B, C, h, w)
        pos = self.position(features)  # (S, C)
        memory = features.flatten(2).transpose(1, 2)  # (B, C, h, w) -> (B, S, C), row-major like pos
        return self.encoder(memory, pos), pos

    def forward(self, images: Tensor) -> HeadOutput:
        """images (B, 3, H, W), RGB crops in [0, 1] (H = W = ``flame.image_size``; normalised here with the
        model's ImageNet buffers) -> HeadOutput.

        ``params`` (B, K); ``flame`` the FLAME output; ``landmark_layers`` (L, B, N, 2) in [0, 1] of the
        crop (L = 1 without the landmark branch); ``landmarks`` = ``landmark_layers[-1]``.
        """
        memory, pos = self.encode(images)
        params = self.param_branch(memory, pos)  # (B, K)
        flame = self.flame(params)
        if self.landmark_branch is not None:
            layers = self.landmark_branch(memory, pos)  # (L, B, N, 2)
        else:
            layers = (flame.landmarks_2d / self.image_size)[None]  # (1, B, N, 2)
        return HeadOutput(params=params, flame=flame, landmarks=layers[-1], landmark_layers=layers)
