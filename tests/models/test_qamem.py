"""QAMem (paper Eq. 2-3): the grouped per-query transform equals attention over per-query memories."""

from __future__ import annotations

import math

import pytest
import torch

from trans3dhead.models.decoder import TransformerDecoderLayer
from trans3dhead.models.qamem import QueryAwareMemory


def _randomise(qamem: QueryAwareMemory, seed: int = 0) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        qamem.weight.copy_(torch.randn(qamem.weight.shape, generator=gen, dtype=qamem.weight.dtype))
        qamem.bias.copy_(torch.randn(qamem.bias.shape, generator=gen, dtype=qamem.bias.dtype))


def test_qamem_starts_as_identity():
    qamem = QueryAwareMemory(num_queries=3, channels=4)
    x = torch.randn(2, 3, 4)
    torch.testing.assert_close(qamem(x), x)
    assert sum(p.numel() for p in qamem.parameters()) == 3 * (4 * 4 + 4)


def test_qamem_is_a_per_query_matrix_and_a_grouped_conv():
    qamem = QueryAwareMemory(num_queries=5, channels=6).double()
    _randomise(qamem)
    x = torch.randn(3, 5, 6, dtype=torch.float64)
    transforms = qamem.transforms()  # (Q, C, C)
    bias = qamem.bias.view(5, 6)
    expected = torch.stack([x[:, q] @ transforms[q] + bias[q] for q in range(5)], dim=1)
    torch.testing.assert_close(qamem(x), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(qamem.forward_conv(x), expected, rtol=1e-12, atol=1e-12)
    # each query's output depends on that query's input only
    x2 = x.clone()
    x2[:, 0] += 1.0
    changed = (qamem(x2) - qamem(x)).abs().amax(dim=(0, 2))
    assert changed[0] > 0 and torch.all(changed[1:] == 0)


def _naive_per_query_memories(layer, tgt, memory, pos, query_pos):
    """Eq. 2 the slow way: per query i and head h a separate memory M_hi, keys shared, then attend."""
    attn = layer.cross_attn
    batch, num_q, c = tgt.shape
    heads = attn.num_heads
    dh = c // heads
    wq, wk, wv = attn.in_proj_weight.chunk(3)
    bq, bk, bv = attn.in_proj_bias.chunk(3)
    q = ((tgt + query_pos) @ wq.T + bq).view(batch, num_q, heads, dh)
    k = ((memory + pos) @ wk.T + bk).view(batch, -1, heads, dh)
    weights = torch.softmax(torch.einsum("bqhd,bshd->bhqs", q, k) / math.sqrt(dh), dim=-1)  # shared keys
    transforms = layer.qamem.transforms()  # (Q, C, C)
    qbias = layer.qamem.bias.view(num_q, c)
    wo, bo = attn.out_proj.weight, attn.out_proj.bias
    outputs = []
    for i in range(num_q):
        out = bo @ transforms[i] + qbias[i]
        for h in range(heads):
            cols = slice(h * dh, (h + 1) * dh)
            values = memory @ wv[cols].T + bv[cols]  # (B, S, dh): head h's values
            memory_hi = values @ wo[:, cols].T @ transforms[i]  # (B, S, C): query i's own memory
            out = out + torch.einsum("bs,bsc->bc", weights[:, h, i], memory_hi)
        outputs.append(out)
    return torch.stack(outputs, dim=1)


def test_grouped_qamem_equals_naive_per_query_memories():
    torch.manual_seed(0)
    layer = TransformerDecoderLayer(d_model=16, nhead=4, dim_feedforward=8, dropout=0.0, num_qamem_queries=5)
    layer = layer.double().eval()
    _randomise(layer.qamem, seed=1)
    tgt = torch.randn(2, 5, 16, dtype=torch.float64)
    memory = torch.randn(2, 6, 16, dtype=torch.float64)
    pos = torch.randn(6, 16, dtype=torch.float64)
    query_pos = torch.randn(5, 16, dtype=torch.float64)
    fast = layer.cross_attend(tgt, memory, pos, query_pos)
    naive = _naive_per_query_memories(layer, tgt, memory, pos, query_pos)
    torch.testing.assert_close(fast, naive, rtol=1e-5, atol=1e-5)
    assert (fast - naive).abs().max() < 1e-10
    # the per-query transforms matter: without QAMem the output is different
    plain = layer.cross_attn(tgt + query_pos, memory + pos, memory, need_weights=False)[0]
    assert (plain - fast).abs().max() > 1e-2


def test_qamem_gradients_reach_every_query_transform():
    qamem = QueryAwareMemory(num_queries=4, channels=3)
    qamem(torch.randn(2, 4, 3)).square().sum().backward()
    per_query = qamem.weight.grad.view(4, 3, 3).abs().sum(dim=(1, 2))
    assert torch.all(per_query > 0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"num_queries": 0, "channels": 4}, "num_queries"), ({"num_queries": 2, "channels": 0}, "channels")],
)
def test_qamem_rejects_bad_sizes(kwargs, message):
    with pytest.raises(ValueError, match=message):
        QueryAwareMemory(**kwargs)


def test_qamem_rejects_wrong_query_count():
    with pytest.raises(ValueError, match=r"x must have shape \(B, 3, 4\)"):
        QueryAwareMemory(num_queries=3, channels=4)(torch.randn(2, 5, 4))
