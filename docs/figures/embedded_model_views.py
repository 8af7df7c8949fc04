"""Render the embedded head model: front, side, back, three expressions and an open jaw, 68 landmarks.

    .venv/bin/python docs/figures/embedded_model_views.py [--out docs/images/embedded_model.png]

Everything goes through the library: the embedded model's FLAME layer (413-parameter vector, 6D rotation
from Euler angles), the orthographic projection and the project's rasteriser.  Landmarks hidden behind
the head are drawn hollow.
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np
import torch

from trans3dhead.flame import FlameLayer, embedded_assets
from trans3dhead.flame.embedded.expression_basis import FULL_ACTION, NAMED_EXPRESSIONS
from trans3dhead.geometry.camera import ortho_project_3d
from trans3dhead.geometry.rotation import euler_to_matrix, matrix_to_rotation_6d
from trans3dhead.render import Light, render_mesh

SIZE = 320
VIEWS = [
    ("front", (0, 0, 0), {}, 0.0),
    ("side (yaw 90)", (0, 0, 90), {}, 0.0),
    ("back (yaw 180)", (0, 0, 180), {}, 0.0),
    ("smile", (0, 0, 15), {"smile": FULL_ACTION}, 0.0),
    ("brow raise + eyes wide", (0, 0, 15), {"brow_raise": FULL_ACTION, "eyes_wide": FULL_ACTION}, 0.0),
    ("blink left + frown", (0, 0, 15), {"blink_left": FULL_ACTION, "frown": FULL_ACTION}, 0.0),
    ("open jaw (0.35 rad)", (0, -10, 25), {}, 0.35),
]


def params_for(layer: FlameLayer, euler, expression: dict[str, float], jaw: float) -> torch.Tensor:
    s = layer.layout.slices
    params = torch.zeros(1, layer.num_params)
    for name, value in expression.items():
        params[0, s["expression"].start + NAMED_EXPRESSIONS.index(name)] = value
    params[0, s["jaw"].start] = jaw
    rotation = euler_to_matrix(torch.tensor([euler], dtype=torch.float64)).float()
    params[0, s["rotation"]] = matrix_to_rotation_6d(rotation)[0]
    with torch.no_grad():  # fit the head subset (no neck) to 85% of the view, centred
        head = layer(params).posed_vertices[0, layer.subset("head")]
    low, high = head.min(0).values, head.max(0).values
    factor = 0.85 * 2.0 / float((high - low)[:2].max())
    params[0, s["scale"]] = factor - 1.0
    params[0, s["translation"]] = torch.cat([-(low + high)[:2] / 2 * factor, torch.zeros(1)])
    return params


def render_view(layer: FlameLayer, albedo: np.ndarray, euler, expression, jaw) -> np.ndarray:
    p = params_for(layer, euler, expression, jaw)
    s = layer.layout.slices
    with torch.no_grad():
        out = layer(p)
        screen = ortho_project_3d(
            out.posed_vertices, p[:, s["scale"]], p[:, s["translation"]], image_size=SIZE
        )[0]
        lmk = ortho_project_3d(out.landmarks_3d, p[:, s["scale"]], p[:, s["translation"]], image_size=SIZE)[0]
    screen = screen.numpy().astype(np.float64)
    screen[:, 2] += 1000.0  # depth > 0 in front of the camera
    result = render_mesh(
        screen,
        layer.faces.numpy(),
        albedo,
        height=SIZE,
        width=SIZE,
        light=Light(direction=(0.3, -0.4, -1.0), color=(0.75,) * 3, ambient=(0.35,) * 3, specular=0.1),
        background=(0.93, 0.93, 0.93),
        supersample=2,
        cull_backfaces=True,
    )
    image = (result.image * 255).astype(np.uint8).copy()
    for x, y, z in lmk.numpy():
        col, row = int(round(x)), int(round(y))
        inside = 0 <= row < SIZE and 0 <= col < SIZE
        visible = inside and z + 1000.0 <= result.depth[row, col] + 0.02 * SIZE
        cv2.circle(image, (col, row), 2, (220, 30, 30), -1 if visible else 1, lineType=cv2.LINE_AA)
    return image


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="docs/images/embedded_model.png")
    args = parser.parse_args()
    assets = embedded_assets()
    layer = FlameLayer(assets=assets, image_size=SIZE)
    albedo = assets.model.vertex_albedo.astype(np.float64)
    tiles = []
    for title, euler, expression, jaw in VIEWS:
        tile = render_view(layer, albedo, euler, expression, jaw)
        cv2.putText(tile, title, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (20, 20, 20), 1, cv2.LINE_AA)
        tiles.append(tile)
    tiles.append(np.full_like(tiles[0], 255))
    grid = np.concatenate([np.concatenate(tiles[:4], 1), np.concatenate(tiles[4:], 1)], 0)
    info = assets.describe()
    cv2.putText(
        grid[-1 * SIZE :, 3 * SIZE :],
        f"{info['vertices']} vertices",
        (12, 40),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.55,
        (20, 20, 20),
        1,
        cv2.LINE_AA,
    )
    cv2.imwrite(args.out, cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
