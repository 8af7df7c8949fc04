"""The project's procedural FLAME-format head model (no licensed files needed).

:func:`generate_head_model` builds, deterministically for a seed, a head-and-neck mesh with eyeballs,
identity and expression bases, pose correctives, a FLAME skeleton, vertex albedo and the DAD-3DHeads
auxiliary data (68-landmark embedding, vertex subsets, dense keypoints), with FLAME's keys and shapes.
"""

from trans3dhead.flame.embedded.generate import generate_head_model

__all__ = ["generate_head_model"]
