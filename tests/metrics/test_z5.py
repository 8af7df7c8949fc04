"""Z5: the reference protocol's column-wise comparison table, the true-kNN variant, known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trans3dhead.metrics.z5 import comparison_indices, z_order_accuracy, zn_accuracy

# Six GT points on a line (x), with a small depth z = 0.01 * index so that the x gaps set all distances.
LINE_X = np.array([0.0, 1.0, 3.0, 7.0, 12.0, 20.0])
LINE = np.stack([LINE_X, np.zeros(6), 0.01 * np.arange(6)], axis=1)

# argsort(cdist(G, G), dim=0)[:, 1:6], worked out by hand.  Column c sorts the distances *from vertex c*:
#   from x=1:  [1, 0, 2, 6, 11, 19]  -> order 1, 0, 2, 3, 4, 5
#   from x=3:  [3, 2, 0, 4, 9, 17]   -> order 2, 1, 0, 3, 4, 5
#   from x=7:  [7, 6, 4, 0, 5, 13]   -> order 3, 2, 4, 1, 0, 5
#   from x=12: [12, 11, 9, 5, 0, 8]  -> order 4, 3, 5, 2, 1, 0
#   from x=20: [20, 19, 17, 13, 8, 0] -> order 5, 4, 3, 2, 1, 0
# Row i of the table holds the i-th entry of each of these orders (not vertex i's neighbours).
REFERENCE_TABLE = np.array(
    [
        [1, 2, 3, 4, 5],
        [0, 1, 2, 3, 4],
        [2, 0, 4, 5, 3],
        [3, 3, 1, 2, 2],
        [4, 4, 0, 1, 1],
        [5, 5, 5, 0, 0],
    ]
)


def with_depth(z) -> np.ndarray:
    points = np.zeros((6, 3), dtype=np.float32)
    points[:, 2] = z
    return points


def f32_ratio(count: int, total: int) -> float:
    return float(np.float32(count) / np.float32(total))


def slow_reference_z5(pred: np.ndarray, gt: np.ndarray, n: int = 5, stable: bool = True) -> float:
    """Direct transcription of the benchmark's double loop (exact float32 distances)."""
    g, p = torch.from_numpy(gt), torch.from_numpy(pred)
    distances = torch.cdist(g, g, compute_mode="donot_use_mm_for_euclid_dist")
    table = torch.argsort(distances, dim=0, stable=stable)[:, 1 : n + 1]
    result = torch.zeros(g.shape[0], n)
    for i in range(g.shape[0]):
        for j in range(n):
            k = table[i, j]
            result[i, j] = float((g[i, 2] >= g[k, 2]) == (p[i, 2] >= p[k, 2]))
    return float(torch.mean(result))


def test_reference_table_is_column_wise_ranking():
    assert np.array_equal(comparison_indices(LINE, variant="reference"), REFERENCE_TABLE)


def test_reference_cdist_variant_matches_on_small_case():
    assert np.array_equal(comparison_indices(LINE, variant="reference_cdist"), REFERENCE_TABLE)


def test_knn_table_lists_true_neighbours():
    table = comparison_indices(LINE, n=2, variant="knn")
    assert table.tolist() == [[1, 2], [0, 2], [1, 0], [2, 4], [3, 5], [4, 3]]


@pytest.mark.parametrize(
    ("pred_z", "reference", "knn"),
    [
        # identical depth order: everything agrees
        (np.arange(6) * 0.01, 30, 30),
        # fully reversed: only the reference table's self-comparisons (i, i) agree; they are the entries
        # equal to their row index: row 1: 1, row 2: 1, row 3: 2, row 4: 2, row 5: 3 -> 9 of 30
        (-np.arange(6) * 0.01, 9, 0),
        # swap vertices 0 and 1: pairs (0, 1) and (1, 0) disagree; both appear in either table
        (np.array([1, 0, 2, 3, 4, 5]) * 0.01, 28, 28),
        # swap vertices 4 and 5: the reference table never pairs 4 with 5 (rows 4 and 5 above)
        (np.array([0, 1, 2, 3, 5, 4]) * 0.01, 30, 28),
    ],
)
def test_hand_built_z5(pred_z, reference, knn):
    pred = with_depth(pred_z)
    assert zn_accuracy(pred, LINE, variant="reference") == f32_ratio(reference, 30)
    assert zn_accuracy(pred, LINE, variant="knn") == f32_ratio(knn, 30)


@pytest.mark.parametrize("seed", range(6))
def test_fast_reference_equals_slow_transcription(seed):
    rng = np.random.default_rng(seed)
    gt = rng.normal(size=(23, 3)).astype(np.float32)
    pred = (gt + rng.normal(scale=0.5, size=gt.shape)).astype(np.float32)
    expected = slow_reference_z5(pred, gt)
    assert zn_accuracy(pred, gt) == expected
    assert zn_accuracy(pred, gt, variant="reference_cdist") == expected


def test_ties_are_broken_by_vertex_index():
    rng = np.random.default_rng(3)
    gt = rng.integers(0, 3, size=(20, 3)).astype(np.float32)  # many equal distances
    pred = (gt + rng.normal(size=gt.shape)).astype(np.float32)
    assert zn_accuracy(pred, gt) == slow_reference_z5(pred, gt, stable=True)


def test_perfect_and_depth_preserving_predictions_score_one():
    rng = np.random.default_rng(0)
    gt = rng.normal(size=(50, 3)).astype(np.float32)
    assert zn_accuracy(gt, gt) == 1.0
    moved = gt * 2.5 + np.array([3.0, -1.0, 7.0], dtype=np.float32)  # same depth order
    assert zn_accuracy(moved, gt) == 1.0
    assert zn_accuracy(moved, gt, variant="knn") == 1.0


def test_knn_matches_brute_force():
    rng = np.random.default_rng(1)
    gt = rng.normal(size=(60, 3))
    distances = np.linalg.norm(gt[:, None] - gt[None], axis=-1)
    np.fill_diagonal(distances, np.inf)
    expected = np.argsort(distances, axis=1)[:, :5]
    assert np.array_equal(comparison_indices(gt, variant="knn"), expected)


def test_knn_excludes_self_when_points_are_duplicated():
    gt = np.array([[0, 0, 0], [0, 0, 0], [1, 0, 0], [3, 0, 0], [6, 0, 0], [10, 0, 0], [15, 0, 0]], float)
    table = comparison_indices(gt, variant="knn")
    assert all(i not in row for i, row in enumerate(table.tolist()))
    assert table[0, 0] == 1 and table[1, 0] == 0


def test_batched_equals_single():
    rng = np.random.default_rng(2)
    gt = rng.normal(size=(3, 12, 3)).astype(np.float32)
    pred = rng.normal(size=(3, 12, 3)).astype(np.float32)
    batched = zn_accuracy(pred, gt)
    assert batched.shape == (3,)
    assert batched.tolist() == [float(zn_accuracy(p, g)) for p, g in zip(pred, gt, strict=True)]


def test_bad_inputs():
    with pytest.raises(ValueError, match="Z5 needs at least 6 points, got 5"):
        comparison_indices(LINE[:5])
    with pytest.raises(ValueError, match="variant must be one of"):
        comparison_indices(LINE, variant="nearest")
    with pytest.raises(ValueError, match="n must be a positive integer"):
        comparison_indices(LINE, n=0)
    with pytest.raises(ValueError, match=r"gt_points must have shape \(\.\.\., \*, 3\)"):
        comparison_indices(LINE[:, :2])
    with pytest.raises(ValueError, match="pred_points and gt_points must have the same shape"):
        zn_accuracy(LINE[:5], LINE)
    with pytest.raises(ValueError, match=r"indices must have shape \(6, n\)"):
        z_order_accuracy(LINE, LINE, REFERENCE_TABLE[:4])
