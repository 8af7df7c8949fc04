"""``trans3dhead experiment SPEC.yaml --out DIR``: arms trained at an equal budget on a synthetic
benchmark."""

from __future__ import annotations

import argparse
import sys

from trans3dhead.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "experiment",
        help="train and evaluate the arms of an experiment spec on a fixed synthetic benchmark",
        description="Generates the spec's synthetic benchmark, trains every arm for the same number of "
        "optimiser steps x batch, evaluates each on the test split (benchmark metrics, both landmark "
        "sources, per-pose rows) and writes results.json, results.md and curves.png.  Running it again "
        "continues: finished arms are kept and an interrupted arm resumes.  Specs: benchmarks/experiments/.",
    )
    p.add_argument("spec", help="experiment spec (YAML)")
    p.add_argument("--out", required=True, help="output folder (created; reused to continue)")
    p.add_argument("--arms", nargs="+", metavar="NAME", help="run only these arms (default: all)")
    p.set_defaults(func=experiment)


def experiment(args: argparse.Namespace) -> int:
    import dataclasses

    from trans3dhead.experiment import load_spec, run_experiment
    from trans3dhead.outputs import check_output_dir

    out = check_output_dir(args.out)
    spec = load_spec(args.spec)
    if args.arms:
        unknown = sorted(set(args.arms) - {a.name for a in spec.arms})
        if unknown:
            raise InputError(f"--arms: {unknown} not in {args.spec} (arms: {[a.name for a in spec.arms]})")
        spec = dataclasses.replace(spec, arms=tuple(a for a in spec.arms if a.name in args.arms))
    records = run_experiment(spec, out, log=lambda m: print(m, file=sys.stderr, flush=True))
    print((out / "results.md").read_text())
    print(f"{len(records)} arm(s): {out}/results.json, {out}/results.md, {out}/curves.png")
    return 0
