"""A stand-in for the released DAD-3DNet: the reference network's module names, shapes and arithmetic.

Written for the tests from the reference's description (PinataFarms/DAD-3DHeads ``FlameRegression`` over
pytorchcv's ``resnet50``; see docs/inference.md), independently of the project's modules, so that the
importer's renaming and the project's network are checked against it: tensor names such as
``encoder.model.stage2.unit1.body.conv1.conv.weight`` or ``bifpn.bifpn.0.p6_td.depthwise.weight`` are the
reference's; so are the stride in each downsampling bottleneck's first 1x1 convolution, the BiFPN fusion
weights ``w / sum(w) + eps`` and the output dict.  The weights are random (BatchNorm statistics included)
and scaled so that activations stay of order one through the 50 layers.

Letters: B batch, C channels, H/W size, N landmarks (68).  Input: ImageNet-normalised images.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

OUTPUT_LANDMARKS_HEATMAP = "OUTPUT_LANDMARKS_HEATMAP"
OUTPUT_3DMM_PARAMS = "OUTPUT_3DMM_PARAMS"
OUTPUT_2D_LANDMARKS = "OUTPUT_2D_LANDMARKS"
_STAGES = ((256, 3, 1), (512, 4, 2), (1024, 6, 2), (2048, 3, 2))  # out channels, units, first stride


class ConvBN(nn.Module):
    """pytorchcv's conv block: ``conv`` (no bias) -> ``bn`` -> optional ReLU."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, *, relu: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.relu = relu

    def forward(self, x: Tensor) -> Tensor:
        x = self.bn(self.conv(x))
        return F.relu(x) if self.relu else x


class Body(nn.Module):
    """ResNet v1 bottleneck body: the stride sits in the first 1x1 convolution."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        mid = c_out // 4
        self.conv1 = ConvBN(c_in, mid, 1, stride)
        self.conv2 = ConvBN(mid, mid, 3)
        self.conv3 = ConvBN(mid, c_out, 1, relu=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv3(self.conv2(self.conv1(x)))


class Unit(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.body = Body(c_in, c_out, stride)
        self.resize = c_in != c_out or stride != 1
        if self.resize:
            self.identity_conv = ConvBN(c_in, c_out, 1, stride, relu=False)

    def forward(self, x: Tensor) -> Tensor:
        identity = self.identity_conv(x) if self.resize else x
        return F.relu(self.body(x) + identity)


class InitBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = ConvBN(3, 64, 7, 2)
        self.pool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(self.conv(x))


class Encoder(nn.Module):
    """``encoder.model`` = pytorchcv's ``features``: init_block, stage1..stage4, a parameter-free pool."""

    def __init__(self) -> None:
        super().__init__()
        self.model = nn.Sequential()
        self.model.add_module("init_block", InitBlock())
        c_in = 64
        for index, (c_out, units, stride) in enumerate(_STAGES):
            stage = nn.Sequential()
            for j in range(units):
                stage.add_module(f"unit{j + 1}", Unit(c_in, c_out, stride if j == 0 else 1))
                c_in = c_out
            self.model.add_module(f"stage{index + 1}", stage)
        self.model.add_module("final_pool", nn.AvgPool2d(kernel_size=7, stride=1))


class SepConv(nn.Module):
    """BiFPN node: depthwise 1x1 -> pointwise 1x1 -> BN(momentum 0.9997, eps 4e-5) -> ReLU."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(c, c, 1, groups=c, bias=False)
        self.pointwise = nn.Conv2d(c, c, 1, bias=False)
        self.bn = nn.BatchNorm2d(c, momentum=0.9997, eps=4e-5)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.pointwise(self.depthwise(x))))


class ConvBlock(nn.Module):
    """P7: conv 3x3 stride 2 (with bias) -> BN(0.9997, 4e-5) -> ReLU."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(c, momentum=0.9997, eps=4e-5)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)))


def _up(x: Tensor, like: Tensor) -> Tensor:
    return F.interpolate(x, size=like.shape[-2:])  # nearest


class Block(nn.Module):
    """One BiFPN block with the reference's weight normalisation ``relu(w) / sum(relu(w)) + eps``."""

    def __init__(self, c: int, eps: float = 1e-4) -> None:
        super().__init__()
        self.eps = eps
        for name in ("p3_td", "p4_td", "p5_td", "p6_td", "p4_out", "p5_out", "p6_out", "p7_out"):
            self.add_module(name, SepConv(c))
        self.w1 = nn.Parameter(torch.ones(2, 4))
        self.w2 = nn.Parameter(torch.ones(3, 4))

    def forward(self, levels: list[Tensor]) -> list[Tensor]:
        p3, p4, p5, p6, p7 = levels
        a = F.relu(self.w1)
        a = a / torch.sum(a, dim=0) + self.eps
        b = F.relu(self.w2)
        b = b / torch.sum(b, dim=0) + self.eps
        t6 = self.p6_td(a[0, 0] * p6 + a[1, 0] * _up(p7, p6))
        t5 = self.p5_td(a[0, 1] * p5 + a[1, 1] * _up(t6, p5))
        t4 = self.p4_td(a[0, 2] * p4 + a[1, 2] * _up(t5, p4))
        t3 = self.p3_td(a[0, 3] * p3 + a[1, 3] * _up(t4, p3))
        o4 = self.p4_out(b[0, 0] * p4 + b[1, 0] * t4 + b[2, 0] * _up(t3, p4))
        o5 = self.p5_out(b[0, 1] * p5 + b[1, 1] * t5 + b[2, 1] * _up(o4, p5))
        o6 = self.p6_out(b[0, 2] * p6 + b[1, 2] * t6 + b[2, 2] * _up(o5, p6))
        o7 = self.p7_out(b[0, 3] * p7 + b[1, 3] * p7 + b[2, 3] * _up(o6, p7))
        return [t3, o4, o5, o6, o7]


class Pyramid(nn.Module):
    def __init__(self, sizes: tuple[int, int, int], c: int, blocks: int = 2) -> None:
        super().__init__()
        self.p3 = nn.Conv2d(sizes[0], c, 1)
        self.p4 = nn.Conv2d(sizes[1], c, 1)
        self.p5 = nn.Conv2d(sizes[2], c, 1)
        self.p6 = nn.Conv2d(sizes[2], c, 3, stride=2, padding=1)
        self.p7 = ConvBlock(c)
        self.bifpn = nn.Sequential(*(Block(c) for _ in range(blocks)))

    def forward(self, c2: Tensor, c3: Tensor, c4: Tensor) -> list[Tensor]:
        p6 = self.p6(c4)
        levels = [self.p3(c2), self.p4(c3), self.p5(c4), p6, self.p7(p6)]
        for block in self.bifpn:
            levels = block(levels)
        return levels


class Heatmap(nn.Module):
    def __init__(self, c: int, n: int) -> None:
        super().__init__()
        self.heatmap = nn.Conv2d(c, n, 3, padding=1)


class Fusion(nn.Module):
    def __init__(self, c_pyramid: int, n: int, c_features: int) -> None:
        super().__init__()
        self.conv1x1 = nn.Conv2d(c_pyramid + n + c_features, c_features, 1)

    def forward(self, x: Tensor, heatmap: Tensor, pyramid: Tensor) -> Tensor:
        probs = F.interpolate(heatmap, size=x.shape[-2:], mode="bilinear", align_corners=True).sigmoid()
        return self.conv1x1(torch.cat([x, probs, pyramid], dim=1)) * x


class Classification(nn.Module):
    def __init__(self, c: int, out: int, hidden: int = 512) -> None:
        super().__init__()
        self.logit_image = nn.Sequential(
            nn.Linear(c, hidden), nn.ReLU(), nn.Dropout(0.3), nn.Linear(hidden, out)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.logit_image(F.adaptive_avg_pool2d(x, 1).flatten(1))


class ReferenceDAD3DNet(nn.Module):
    """images (B, 3, H, W) ImageNet-normalised -> the reference's output dict: heatmap logits (B, N, H/4,
    W/4), 3DMM params (B, 413) = [tanh * 3 of 403, 10 raw], 2D landmarks (B, N, 2) = ReLU, in [0, 1]."""

    def __init__(self, *, num_filters: int = 256, num_landmarks: int = 68) -> None:
        super().__init__()
        self.encoder = Encoder()
        self.bifpn = Pyramid((256, 512, 1024), num_filters)
        self.head = Heatmap(num_filters, num_landmarks)
        self.fusion_layer = Fusion(num_filters, num_landmarks, 1024)
        self.shape = Classification(2048, 403)
        self.pose = Classification(2048, 10)
        self.landmarks = Classification(2048, num_landmarks * 2)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        f = self.encoder.model
        c1 = f.stage1(f.init_block(x))
        c2 = f.stage2(c1)
        c3 = f.stage3(c2)
        levels = self.bifpn(c1, c2, c3)
        heatmap = self.head.heatmap(levels[0])
        fused = f.stage4(self.fusion_layer(c3, heatmap, levels[2]))
        shape = self.shape(fused).tanh() * 3.0
        pose = self.pose(fused)
        landmarks = F.relu(self.landmarks(fused).reshape(x.shape[0], -1, 2))
        return {
            OUTPUT_LANDMARKS_HEATMAP: heatmap,
            OUTPUT_3DMM_PARAMS: torch.cat([shape, pose], dim=1),
            OUTPUT_2D_LANDMARKS: landmarks,
        }


@torch.no_grad()
def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights and BatchNorm statistics, activations of order one, fusion weights partly negative
    (so the ReLU and the epsilon placement matter), landmarks spread over the crop; eval mode."""
    generator = torch.Generator().manual_seed(seed)

    def uniform(tensor: Tensor, low: float, high: float) -> None:
        tensor.copy_(torch.rand(tensor.shape, generator=generator) * (high - low) + low)

    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            fan_in = module.weight[0].numel()
            module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * (1.0 / fan_in) ** 0.5)
            if module.bias is not None:
                uniform(module.bias, -0.1, 0.1)
        elif isinstance(module, nn.BatchNorm2d):
            residual_end = name.endswith("conv3.bn")  # keep the residual stream from growing
            uniform(module.weight, 0.1, 0.3) if residual_end else uniform(module.weight, 0.8, 1.2)
            uniform(module.bias, -0.1, 0.1)
            uniform(module.running_mean, -0.1, 0.1)
            uniform(module.running_var, 0.5, 1.5)
            module.num_batches_tracked.fill_(1000)
        elif isinstance(module, Block):
            uniform(module.w1, -0.3, 1.5)
            uniform(module.w2, -0.3, 1.5)
            module.w1[:, 0] = torch.tensor([0.7, 1.1])  # at least one positive weight per node
            module.w2[:, 0] = torch.tensor([0.5, 0.9, 1.3])
            module.w1[0, :] = module.w1[0, :].abs() + 0.2
            module.w2[0, :] = module.w2[0, :].abs() + 0.2
    last = model.landmarks.logit_image[-1]
    uniform(last.bias, 0.1, 0.9)  # normalised landmarks inside the crop
    last.weight.mul_(0.1)
    return model.eval()
