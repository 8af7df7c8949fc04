"""Layout of the regressed FLAME parameter vector (``docs/conventions.md`` section 2)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

__all__ = ["ParamLayout", "FlameParams"]


@dataclass(frozen=True)
class ParamLayout:
    """Layout of the regressed parameter vector: shape, expression, jaw (axis-angle), 6D rotation,
    translation (t_z unused), scale.  The DAD-3DHeads layout for FLAME is 300 + 100 + 3 + 6 + 3 + 1 = 413;
    the paper's Table 8 settings are ``ParamLayout(40, 10, jaw=False)`` (60) and ``(100, 50, jaw=False)``
    (160).  Components a smaller layout leaves out are zero in the FLAME forward pass."""

    num_shape: int
    num_expression: int
    jaw: bool = True

    @property
    def sizes(self) -> dict[str, int]:
        return {
            "shape": self.num_shape,
            "expression": self.num_expression,
            "jaw": 3 if self.jaw else 0,
            "rotation": 6,
            "translation": 3,
            "scale": 1,
        }

    @property
    def slices(self) -> dict[str, slice]:
        out, start = {}, 0
        for name, size in self.sizes.items():
            out[name] = slice(start, start + size)
            start += size
        return out

    @property
    def total(self) -> int:
        return sum(self.sizes.values())

    def split(self, params: Tensor) -> FlameParams:
        """(B, K) -> named views (no copies)."""
        if params.ndim != 2 or params.shape[1] != self.total:
            raise ValueError(
                f"params must have shape (B, {self.total}) for {self}, got {tuple(params.shape)}"
            )
        s = self.slices
        return FlameParams(**{name: params[:, sl] for name, sl in s.items()})


@dataclass(frozen=True)
class FlameParams:
    """Named parts of a parameter vector: shape (B, S), expression (B, E), jaw (B, 3 or 0),
    rotation (B, 6), translation (B, 3), scale (B, 1)."""

    shape: Tensor
    expression: Tensor
    jaw: Tensor
    rotation: Tensor
    translation: Tensor
    scale: Tensor
