"""Argument groups shared by several commands."""

from __future__ import annotations

import argparse


def add_asset_args(parser: argparse.ArgumentParser) -> None:
    """``--flame FILE --aux DIR``: the FLAME model and the DAD-3DHeads auxiliary folder."""
    parser.add_argument(
        "--flame", help="FLAME model file (.pkl or .npz); default $TRANS3DHEAD_FLAME, else the embedded model"
    )
    parser.add_argument("--aux", help="DAD-3DHeads auxiliary directory; default $TRANS3DHEAD_FLAME_AUX")


#: Filtered quantities (mirrors trans3dhead.inference.smoothing.SMOOTHED_QUANTITIES; not imported: keeps
#: ``--help`` free of torch).
_QUANTITIES = ("rotation", "translation", "scale", "landmarks")


def _filter_spec(text: str) -> tuple[str, tuple[float, ...]]:
    """``QUANTITY=MIN_CUTOFF,BETA[,D_CUTOFF[,ORDER[,LEAD]]]``."""
    name, _, values = text.partition("=")
    try:
        numbers = tuple(float(v) for v in values.split(","))
    except ValueError:
        numbers = ()
    if name not in _QUANTITIES or not 2 <= len(numbers) <= 5:
        raise argparse.ArgumentTypeError(
            "expected QUANTITY=MIN_CUTOFF,BETA[,D_CUTOFF[,ORDER[,LEAD]]] with QUANTITY one of "
            f"{_QUANTITIES}, got {text!r}"
        )
    return name, numbers


def _limit(text: str) -> int | None:
    if text.lower() == "none":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or 'none', got {text!r}") from None


def add_video_args(parser: argparse.ArgumentParser) -> None:
    """Tracking and smoothing options of video commands (``docs/video.md``); see :func:`video_options`."""
    track = parser.add_argument_group("video tracking")
    track.add_argument(
        "--detect-every", type=int, default=5, metavar="N", help="run the detector every N frames (5)"
    )
    track.add_argument(
        "--max-missed", type=int, default=5, metavar="M", help="end a track after M missed frames (5)"
    )
    track.add_argument(
        "--max-unconfirmed",
        type=_limit,
        default=4,
        metavar="K",
        help="end a track after K detection frames without a detection of it; 'none': never (4)",
    )
    track.add_argument(
        "--no-reanchor",
        action="store_true",
        help="keep a track's own prediction when a detection matches it (default: take the detection's)",
    )
    smooth = parser.add_argument_group("video smoothing (One Euro filters; defaults: docs/video.md)")
    smooth.add_argument("--no-smoothing", action="store_true", help="report the network's values unfiltered")
    smooth.add_argument("--min-cutoff", type=float, metavar="HZ", help="cutoff at rest, every quantity")
    smooth.add_argument("--beta", type=float, help="cutoff increase with speed, every quantity")
    smooth.add_argument(
        "--d-cutoff", type=float, metavar="HZ", help="cutoff of the speed estimate, every quantity"
    )
    smooth.add_argument(
        "--filter-order", type=int, metavar="K", help="cascaded low-pass stages, every quantity"
    )
    smooth.add_argument(
        "--lead",
        type=float,
        metavar="F",
        help="fraction (0-1) of the filters' delay compensated along the filtered speed, every quantity",
    )
    smooth.add_argument(
        "--smooth",
        type=_filter_spec,
        action="append",
        default=[],
        metavar="Q=MIN,BETA[,DCUT[,ORDER[,LEAD]]]",
        help=f"one quantity's filter ({', '.join(_QUANTITIES)}); repeatable; wins over the flags above",
    )


def video_options(args: argparse.Namespace):
    """(TrackerOptions, SmoothingOptions) from :func:`add_video_args`' flags (InputError for bad values)."""
    from dataclasses import replace

    from trans3dhead.inference.smoothing import SmoothingOptions
    from trans3dhead.inference.tracking import TrackerOptions

    tracking = TrackerOptions(
        detect_every=args.detect_every,
        max_missed=args.max_missed,
        max_unconfirmed=args.max_unconfirmed,
        prefer_detections=not args.no_reanchor,
    )
    common = {
        key: value
        for key, value in (
            ("min_cutoff", args.min_cutoff),
            ("beta", args.beta),
            ("d_cutoff", args.d_cutoff),
            ("order", args.filter_order),
            ("lead", args.lead),
        )
        if value is not None
    }
    defaults = SmoothingOptions()
    filters = {name: replace(getattr(defaults, name), **common) for name in _QUANTITIES}
    for name, numbers in args.smooth:
        keys = ("min_cutoff", "beta", "d_cutoff", "order", "lead")
        values = dict(zip(keys, numbers, strict=False))
        if "order" in values and values["order"].is_integer():
            values["order"] = int(values["order"])  # else refused by OneEuroParams, which wants an integer
        filters[name] = replace(filters[name], **values)  # replace() validates the new parameters
    return tracking, SmoothingOptions(enabled=not args.no_smoothing, **filters)
