"""DETR-style transformer layers (post-norm) and the memory-related query initialisation (MQinit).

Letters: B batch, Q queries, S memory tokens (h * w of the stride-32 feature map), C channels
(= d_model), L decoder layers.

* Encoder layer: self-attention over the memory with the positional encoding added to queries and keys,
  then a feed-forward network; residual + LayerNorm after each (DETR's default post-norm).
* Decoder layer: self-attention among the queries (learned query positions added to queries and keys),
  cross-attention from the queries to the memory (positions added to the keys), optionally followed by
  QAMem (paper section 3.2; see :mod:`trans3dhead.models.qamem` for where it sits), then the FFN.
* :class:`TransformerDecoder` returns every layer's output after a shared final LayerNorm (DETR's
  intermediate outputs), for per-layer predictions (MARR, deep supervision).
* :class:`MemoryQueryInit`: ``Q_init = FC(GAP(M))`` (paper Eq. 1), the data-dependent initial queries.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from trans3dhead.frames import heads_split_width
from trans3dhead.models.qamem import QueryAwareMemory

__all__ = [
    "TransformerEncoderLayer",
    "TransformerEncoder",
    "TransformerDecoderLayer",
    "TransformerDecoder",
    "MemoryQueryInit",
]


def _check_width(d_model: int, nhead: int, dim_feedforward: int, dropout: float) -> None:
    if not heads_split_width(d_model, nhead):
        raise ValueError(
            f"d_model must be a positive multiple of nhead, got d_model={d_model}, nhead={nhead}"
        )
    if dim_feedforward < 1:
        raise ValueError(f"dim_feedforward must be >= 1, got dim_feedforward={dim_feedforward}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got dropout={dropout}")


class _FeedForward(nn.Module):
    """Linear -> ReLU -> dropout -> Linear, then dropout, residual and LayerNorm (post-norm)."""

    def __init__(self, d_model: int, dim_feedforward: int, dropout: float) -> None:
        super().__init__()
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.dropout = nn.Dropout(dropout)
        self.dropout_out = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: Tensor) -> Tensor:
        y = self.linear2(self.dropout(self.linear1(x).relu()))
        return self.norm(x + self.dropout_out(y))


class TransformerEncoderLayer(nn.Module):
    """One DETR encoder layer over the memory (B, S, C)."""

    def __init__(self, *, d_model: int, nhead: int, dim_feedforward: int, dropout: float) -> None:
        super().__init__()
        _check_width(d_model, nhead, dim_feedforward, dropout)
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(d_model)
        self.ffn = _FeedForward(d_model, dim_feedforward, dropout)

    def forward(self, src: Tensor, pos: Tensor) -> Tensor:
        """src (B, S, C), pos (S, C) or (B, S, C) -> (B, S, C)."""
        qk = src + pos
        attended = self.self_attn(qk, qk, src, need_weights=False)[0]
        return self.ffn(self.norm(src + self.dropout(attended)))


class TransformerEncoder(nn.Module):
    """A stack of encoder layers (the paper's final model has none; Table 3 varies 0-3)."""

    def __init__(
        self, *, num_layers: int, d_model: int, nhead: int, dim_feedforward: int, dropout: float
    ) -> None:
        super().__init__()
        if num_layers < 0:
            raise ValueError(f"num_layers must be >= 0, got num_layers={num_layers}")
        self.layers = nn.ModuleList(
            TransformerEncoderLayer(
                d_model=d_model, nhead=nhead, dim_feedforward=dim_feedforward, dropout=dropout
            )
            for _ in range(num_layers)
        )

    def forward(self, src: Tensor, pos: Tensor) -> Tensor:
        """src (B, S, C), pos (S, C) -> (B, S, C)."""
        for layer in self.layers:
            src = layer(src, pos)
        return src


class TransformerDecoderLayer(nn.Module):
    """One DETR decoder layer, with QAMem after the cross-attention when ``num_qamem_queries`` is given.

    Args:
        d_model, nhead, dim_feedforward, dropout: as in DETR.
        num_qamem_queries: Q for a :class:`QueryAwareMemory`, or None for the plain DETR layer.
    """

    def __init__(
        self,
        *,
        d_model: int,
        nhead: int,
        dim_feedforward: int,
        dropout: float,
        num_qamem_queries: int | None = None,
    ) -> None:
        super().__init__()
        _check_width(d_model, nhead, dim_feedforward, dropout)
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=True)
        self.qamem = (
            None
            if num_qamem_queries is None
            else QueryAwareMemory(num_queries=num_qamem_queries, channels=d_model)
        )
        self.dropout1, self.dropout2 = nn.Dropout(dropout), nn.Dropout(dropout)
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.ffn = _FeedForward(d_model, dim_feedforward, dropout)

    def cross_attend(self, tgt: Tensor, memory: Tensor, pos: Tensor, query_pos: Tensor) -> Tensor:
        """What the queries extract from the memory: (B, Q, C), QAMem applied when present (Eq. 3)."""
        extracted = self.cross_attn(tgt + query_pos, memory + pos, memory, need_weights=False)[0]
        return extracted if self.qamem is None else self.qamem(extracted)

    def forward(self, tgt: Tensor, memory: Tensor, pos: Tensor, query_pos: Tensor) -> Tensor:
        """tgt (B, Q, C), memory (B, S, C), pos (S, C), query_pos (Q, C) or (B, Q, C) -> (B, Q, C)."""
        qk = tgt + query_pos
        tgt = self.norm1(tgt + self.dropout1(self.self_attn(qk, qk, tgt, need_weights=False)[0]))
        tgt = self.norm2(tgt + self.dropout2(self.cross_attend(tgt, memory, pos, query_pos)))
        return self.ffn(tgt)


class TransformerDecoder(nn.Module):
    """A stack of decoder layers returning every layer's normalised output (L, B, Q, C).

    Args:
        num_layers: L >= 1.
        d_model, nhead, dim_feedforward, dropout: layer sizes.
        num_queries: Q, needed for QAMem's groups.
        qamem: add QAMem to every layer.
    """

    def __init__(
        self,
        *,
        num_layers: int,
        d_model: int,
        nhead: int,
        dim_feedforward: int,
        dropout: float,
        num_queries: int,
        qamem: bool,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got num_layers={num_layers}")
        self.layers = nn.ModuleList(
            TransformerDecoderLayer(
                d_model=d_model,
                nhead=nhead,
                dim_feedforward=dim_feedforward,
                dropout=dropout,
                num_qamem_queries=num_queries if qamem else None,
            )
            for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(d_model)

    def forward(self, tgt: Tensor, memory: Tensor, pos: Tensor, query_pos: Tensor) -> Tensor:
        """tgt (B, Q, C), memory (B, S, C), pos (S, C), query_pos (Q, C) -> (L, B, Q, C)."""
        outputs = []
        for layer in self.layers:
            tgt = layer(tgt, memory, pos, query_pos)
            outputs.append(self.norm(tgt))
        return torch.stack(outputs, dim=0)  # L x (B, Q, C) -> (L, B, Q, C)


class MemoryQueryInit(nn.Module):
    """MQinit (paper Eq. 1): ``Q_init = FC(GAP(M))``, one d-vector per query from the pooled memory.

    The FC maps C -> Q * C, so it has Q * C * (C + 1) parameters (4.5M for 68 landmark queries at
    C = 256, 27M for the 413 3DMM queries of the "both branches" ablation).

    Args:
        num_queries: Q.
        channels: C.
    """

    def __init__(self, *, num_queries: int, channels: int) -> None:
        super().__init__()
        if num_queries < 1 or channels < 1:
            raise ValueError(f"num_queries and channels must be >= 1, got {num_queries}, {channels}")
        self.num_queries = num_queries
        self.channels = channels
        self.fc = nn.Linear(channels, num_queries * channels)

    def forward(self, memory: Tensor) -> Tensor:
        """memory (B, S, C) -> initial queries (B, Q, C)."""
        pooled = memory.mean(dim=1)  # (B, C): global average pool over the h * w tokens
        return self.fc(pooled).view(memory.shape[0], self.num_queries, self.channels)
