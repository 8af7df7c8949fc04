"""Parameter and FLOP counts of a model, per top-level part (backbone, branches, heads)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["PartSummary", "ModelSummary", "summarize"]


@dataclass(frozen=True)
class PartSummary:
    name: str
    parameters: int
    trainable: int
    flops: int  # multiply-adds count twice (torch's convention); per image


@dataclass(frozen=True)
class ModelSummary:
    arch: str
    input_size: int
    parts: list[PartSummary]

    @property
    def parameters(self) -> int:
        return sum(p.parameters for p in self.parts)

    @property
    def flops(self) -> int:
        return sum(p.flops for p in self.parts)

    def to_dict(self) -> dict:
        return {
            "arch": self.arch,
            "input_size": self.input_size,
            "parameters": self.parameters,
            "gflops": round(self.flops / 1e9, 3),
            "parts": [asdict(p) for p in self.parts],
        }

    def table(self) -> str:
        """Markdown table: one row per part, then the total."""
        rows = ["| part | parameters | trainable | GFLOPs |", "|---|---:|---:|---:|"]
        for p in self.parts:
            rows.append(f"| {p.name} | {p.parameters:,} | {p.trainable:,} | {p.flops / 1e9:.3f} |")
        trainable = sum(p.trainable for p in self.parts)
        rows.append(
            f"| **total** | **{self.parameters:,}** | **{trainable:,}** | **{self.flops / 1e9:.3f}** |"
        )
        return "\n".join(rows)


def summarize(model: nn.Module, *, input_size: int, arch: str) -> ModelSummary:
    """Count parameters per direct child module and FLOPs of one forward pass on a 1-image batch."""
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False, depth=4)
    with torch.no_grad(), counter:
        model(torch.rand(1, 3, input_size, input_size))
    model.train(was_training)
    flops = counter.get_flop_counts()
    parts = []
    for name, child in model.named_children():
        params = list(child.parameters())
        parts.append(
            PartSummary(
                name=name,
                parameters=sum(p.numel() for p in params),
                trainable=sum(p.numel() for p in params if p.requires_grad),
                flops=_part_flops(flops, f"{type(model).__name__}.{name}"),
            )
        )
    return ModelSummary(arch=arch, input_size=input_size, parts=parts)


def _part_flops(flops: dict[str, dict], prefix: str) -> int:
    """FLOPs recorded under a module: its own entry, or, when only its children ran (e.g. a backbone run
    stage by stage), the sum of its outermost recorded descendants."""
    keys = [k for k in flops if k == prefix or k.startswith(prefix + ".")]
    outermost = [k for k in keys if not any(k != o and k.startswith(o + ".") for o in keys)]
    return int(sum(sum(flops[k].values()) for k in outermost))
