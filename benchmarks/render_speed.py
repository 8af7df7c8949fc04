"""Speed of the numba renderer (trans3dhead.render) on a head-sized mesh.

A closed geodesic sphere (frequency 22: 4,842 vertices, 9,680 faces, the size of a decimated head mesh)
fills ~60% of a square frame.  Reports, after JIT warm-up, the time per call of ``rasterize`` alone and
of the full ``render_mesh`` (rasterise + normals + Phong shading + vertex visibility) with a random
light, with and without back-face culling and with 2x supersampling; and the JIT cost of the first
calls in a fresh process, with an empty numba cache and again with the cache filled.

Timings on a shared machine are noisy: each figure is the median (and best) over ``--rounds`` rounds of
``--repeat`` calls.  Usage::

    python benchmarks/render_speed.py [--size 256] [--frequency 22] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import numpy as np

from trans3dhead.render import Light, icosphere, rasterize, render_mesh

FIRST_CALL_SCRIPT = """
import time
t0 = time.perf_counter()
import numpy as np
from trans3dhead.render import icosphere, rasterize, render_mesh
t1 = time.perf_counter()
v, f = icosphere(frequency=2)
screen = np.c_[16 + 10 * v[:, :2], 40 + 10 * v[:, 2]]
rasterize(screen, f, 32, 32)
t2 = time.perf_counter()
render_mesh(screen, f, (v + 1) / 2, height=32, width=32)
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2)
"""


def head_sized_mesh(size: int, frequency: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Screen vertices (V, 3) of a sphere of diameter 0.6 * size at the frame centre, faces, colours."""
    unit, faces = icosphere(frequency=frequency)
    radius = 0.3 * size
    screen = np.c_[size / 2 + radius * unit[:, :2], 4 * radius + radius * unit[:, 2]]
    return screen, faces, np.clip(0.5 + 0.4 * unit, 0.0, 1.0)


def time_calls(fn: Callable[[], object], *, repeat: int, rounds: int) -> dict[str, float]:
    """Milliseconds per call: median and best over rounds."""
    fn()  # warm-up (JIT compile or cache load)
    per_call = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(repeat):
            fn()
        per_call.append((time.perf_counter() - start) / repeat * 1e3)
    return {"median_ms": statistics.median(per_call), "best_ms": min(per_call)}


def first_call_costs() -> dict[str, dict[str, float]]:
    """Seconds for import and the first rasterize / render_mesh in fresh processes: empty, then warm cache."""
    out = {}
    with tempfile.TemporaryDirectory() as cache_dir:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
        for label in ("cold_cache", "warm_cache"):
            result = subprocess.run(
                [sys.executable, "-c", FIRST_CALL_SCRIPT], env=env, capture_output=True, text=True, check=True
            )
            import_s, raster_s, render_s = (float(x) for x in result.stdout.split())
            out[label] = {
                "import_s": import_s,
                "first_rasterize_s": raster_s,
                "first_render_mesh_s": render_s,
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="image height and width")
    parser.add_argument("--frequency", type=int, default=22, help="icosphere frequency (V = 10 f^2 + 2)")
    parser.add_argument("--repeat", type=int, default=50, help="calls per timing round")
    parser.add_argument("--rounds", type=int, default=15, help="timing rounds")
    parser.add_argument("--json", type=str, default=None, help="also write the figures to this file")
    args = parser.parse_args()

    screen, faces, colors = head_sized_mesh(args.size, args.frequency)
    light = Light.random(np.random.default_rng(0))
    size, timing = args.size, {"repeat": args.repeat, "rounds": args.rounds}
    cases: dict[str, Callable[[], object]] = {
        "rasterize": lambda: rasterize(screen, faces, size, size),
        "rasterize_cull": lambda: rasterize(screen, faces, size, size, cull_backfaces=True),
        "render_mesh": lambda: render_mesh(screen, faces, colors, height=size, width=size, light=light),
        "render_mesh_cull": lambda: render_mesh(
            screen, faces, colors, height=size, width=size, light=light, cull_backfaces=True
        ),
        "render_mesh_ss2": lambda: render_mesh(
            screen, faces, colors, height=size, width=size, light=light, supersample=2
        ),
    }
    report = {
        "mesh": {"vertices": len(screen), "faces": len(faces), "image": size},
        "covered_pixels": int(rasterize(screen, faces, size, size).mask.sum()),
        "timings": {name: time_calls(fn, **timing) for name, fn in cases.items()},
        "jit": first_call_costs(),
    }
    covered = report["covered_pixels"]
    print(f"mesh: {len(screen)} vertices, {len(faces)} faces, {size}x{size} image, {covered} px covered")
    for name, figures in report["timings"].items():
        median, best = figures["median_ms"], figures["best_ms"]
        print(f"{name:18s} median {median:6.2f} ms  best {best:6.2f} ms  {1e3 / median:6.0f} calls/s")
    for label, figures in report["jit"].items():
        print(f"{label}: " + ", ".join(f"{key} {value:.2f}" for key, value in figures.items()))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=2)


if __name__ == "__main__":
    main()
