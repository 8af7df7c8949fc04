"""Regenerate ``docs/images/synthetic_gallery.png``: 16 synthetic items with GT landmarks and attributes.

    .venv/bin/python benchmarks/make_gallery.py [--out docs/images/synthetic_gallery.png] [--seed 0]

Generates the first 16 training items of ``trans3dhead synth --seed S --size 256`` with the default
embedded head model into a temporary folder, then draws them from the written files
(:func:`trans3dhead.data.synthetic.gallery.make_gallery`, stored as a dithered 256-colour PNG).
The output depends only on the seed (and the embedded model's generator).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from trans3dhead.data.synthetic import SceneOptions, generate_dataset
from trans3dhead.data.synthetic.gallery import make_gallery
from trans3dhead.flame import load_assets


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="docs/images/synthetic_gallery.png")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", type=int, default=16)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    assets = load_assets()
    with tempfile.TemporaryDirectory() as tmp:
        events = generate_dataset(
            tmp,
            assets=assets,
            counts={"train": args.count},
            seed=args.seed,
            options=SceneOptions(size=args.size),
        )
        for _ in events:
            pass
        path = make_gallery(tmp, args.out, assets=assets, split="train", count=args.count, palette=True)
    print(f"wrote {path} ({Path(path).stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
