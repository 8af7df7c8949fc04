"""DAD-3DHeads benchmark metrics (``docs/conventions.md`` section 11), reports and the official file formats.

Metric functions take plain arrays (numpy, torch tensors or nested lists) and are batched over leading
dimensions where that makes sense, so training validation can use them too.  The defaults reproduce the
reference benchmark, quirks included; corrected variants are explicit options.
"""

from trans3dhead.metrics.benchmark import (
    METRICS,
    AttributeRow,
    BenchmarkOptions,
    BenchmarkResult,
    ItemScore,
    MetricSpec,
    MetricSummary,
    score_item,
    score_predictions,
)
from trans3dhead.metrics.chamfer import (
    INTER_EYE_DISTANCE,
    chamfer_distance,
    one_sided_chamfer,
    scale_to_eye_distance,
)
from trans3dhead.metrics.euler import EulerMAE, euler_angles, euler_errors, euler_mae
from trans3dhead.metrics.groundtruth import GtItem, parse_gt_entries, read_gt_file, write_gt_file
from trans3dhead.metrics.gt_builder import build_gt_entries, image_size
from trans3dhead.metrics.nme import bbox_normaliser, nme
from trans3dhead.metrics.pose import gt_pose_rotation, pose_angle, pose_error
from trans3dhead.metrics.procrustes import DegenerateError, ProcrustesFit, SimilarityTransform, procrustes
from trans3dhead.metrics.report import report_dict, report_markdown, write_report
from trans3dhead.metrics.submission import (
    SUBMISSION_FIELDS,
    ItemPrediction,
    Problem,
    make_prediction,
    parse_prediction,
    read_submission,
    write_submission,
)
from trans3dhead.metrics.topology import BenchmarkTopology
from trans3dhead.metrics.z5 import Z5_VARIANTS, comparison_indices, z_order_accuracy, zn_accuracy

__all__ = [
    "METRICS",
    "AttributeRow",
    "BenchmarkOptions",
    "BenchmarkResult",
    "ItemScore",
    "MetricSpec",
    "MetricSummary",
    "score_item",
    "score_predictions",
    "INTER_EYE_DISTANCE",
    "chamfer_distance",
    "one_sided_chamfer",
    "scale_to_eye_distance",
    "EulerMAE",
    "euler_angles",
    "euler_errors",
    "euler_mae",
    "GtItem",
    "parse_gt_entries",
    "read_gt_file",
    "write_gt_file",
    "build_gt_entries",
    "image_size",
    "bbox_normaliser",
    "nme",
    "gt_pose_rotation",
    "pose_angle",
    "pose_error",
    "DegenerateError",
    "ProcrustesFit",
    "SimilarityTransform",
    "procrustes",
    "report_dict",
    "report_markdown",
    "write_report",
    "SUBMISSION_FIELDS",
    "ItemPrediction",
    "Problem",
    "make_prediction",
    "parse_prediction",
    "read_submission",
    "write_submission",
    "BenchmarkTopology",
    "Z5_VARIANTS",
    "comparison_indices",
    "z_order_accuracy",
    "zn_accuracy",
]
