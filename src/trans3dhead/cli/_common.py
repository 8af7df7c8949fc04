"""Argument groups shared by several commands."""

from __future__ import annotations

import argparse
import math


def add_asset_args(parser: argparse.ArgumentParser) -> None:
    """``--flame FILE --aux DIR``: the FLAME model and the DAD-3DHeads auxiliary folder."""
    parser.add_argument(
        "--flame", help="FLAME model file (.pkl or .npz); default $TRANS3DHEAD_FLAME, else the embedded model"
    )
    parser.add_argument("--aux", help="DAD-3DHeads auxiliary directory; default $TRANS3DHEAD_FLAME_AUX")


#: Filtered quantities (mirrors trans3dhead.inference.smoothing.SMOOTHED_QUANTITIES; not imported: keeps
#: ``--help`` free of torch).
_QUANTITIES = ("rotation", "translation", "scale", "landmarks")


_ONE_EURO_SPEC = "MIN_CUTOFF,BETA[,D_CUTOFF[,ORDER[,LEAD]]]"
_ALPHA_BETA_SPEC = "alpha-beta:ALPHA[,BETA]"


def add_camera_focal_arg(parser: argparse.ArgumentParser) -> None:
    """``--camera-focal F`` (eval, predict); read it with :func:`camera_focal_choice`."""
    parser.add_argument(
        "--camera-focal",
        type=float,
        help="focal length (image sizes) with which to turn each predicted rotation from the crop's view "
        "into the camera frame (default: the checkpoint's model.camera_focal; 0: as predicted)",
    )


def add_flip_arg(parser: argparse.ArgumentParser) -> None:
    """``--flip`` (eval, predict, eval-video): flip test-time averaging."""
    parser.add_argument(
        "--flip",
        action="store_true",
        help="average each crop's prediction with that for its mirror image: better accuracy at twice the "
        "network cost (needs a left-right symmetric head model; docs/inference.md)",
    )


def camera_focal_choice(args: argparse.Namespace) -> float | None | str:
    """``--camera-focal``: "config" when not given (the checkpoint's ``model.camera_focal``), None for 0
    (rotations as predicted), else the focal length; anything but a finite number >= 0 is an InputError."""
    from trans3dhead.errors import InputError

    focal = args.camera_focal
    if focal is None:
        return "config"
    if not (math.isfinite(focal) and focal >= 0):
        raise InputError(f"--camera-focal must be >= 0 (0: rotations as predicted), got {focal}")
    return focal or None


def _filter_spec(text: str) -> tuple[str, str, tuple[float, ...]]:
    """``QUANTITY=[one-euro:]MIN_CUTOFF,BETA[,...]`` or ``QUANTITY=alpha-beta:ALPHA[,BETA]``:
    (quantity, ``"one_euro"`` | ``"alpha_beta"``, numbers)."""
    name, _, values = text.partition("=")
    kind, sep, numbers_text = values.partition(":")
    if not sep:
        kind, numbers_text = "one-euro", values
    try:
        numbers = tuple(float(v) for v in numbers_text.split(","))
    except ValueError:
        numbers = ()
    counts = {"one-euro": (2, 5), "alpha-beta": (1, 2)}.get(kind, (1, 0))
    if name not in _QUANTITIES or not counts[0] <= len(numbers) <= counts[1]:
        raise argparse.ArgumentTypeError(
            f"expected QUANTITY={_ONE_EURO_SPEC} (a One Euro filter) or QUANTITY={_ALPHA_BETA_SPEC} with "
            f"QUANTITY one of {_QUANTITIES}, got {text!r}"
        )
    return name, kind.replace("-", "_"), numbers


def _gains(text: str) -> tuple[float, ...]:
    """``ALPHA[,BETA]`` of ``--alpha-beta``."""
    try:
        numbers = tuple(float(v) for v in text.split(","))
    except ValueError:
        numbers = ()
    if not 1 <= len(numbers) <= 2:
        raise argparse.ArgumentTypeError(f"expected ALPHA[,BETA], got {text!r}")
    return numbers


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
    smooth = parser.add_argument_group(
        "video smoothing (defaults: alpha-beta filters on every quantity; One Euro filters on request; "
        "docs/video.md)"
    )
    smooth.add_argument("--no-smoothing", action="store_true", help="report the network's values unfiltered")
    smooth.add_argument(
        "--min-cutoff", type=float, metavar="HZ", help="One Euro cutoff at rest, every quantity"
    )
    smooth.add_argument("--beta", type=float, help="One Euro cutoff increase with speed, every quantity")
    smooth.add_argument(
        "--d-cutoff", type=float, metavar="HZ", help="One Euro cutoff of the speed estimate, every quantity"
    )
    smooth.add_argument(
        "--filter-order", type=int, metavar="K", help="One Euro cascaded low-pass stages, every quantity"
    )
    smooth.add_argument(
        "--lead",
        type=float,
        metavar="F",
        help="fraction (0-1) of the One Euro filters' delay compensated along the speed, every quantity",
    )
    smooth.add_argument(
        "--alpha-beta",
        type=_gains,
        metavar="ALPHA[,BETA]",
        help="alpha-beta filters with these gains per frame on every quantity (BETA left out: each "
        "quantity's default; not with the One Euro flags)",
    )
    smooth.add_argument(
        "--smooth",
        type=_filter_spec,
        action="append",
        default=[],
        metavar="Q=SPEC",
        help=(
            f"one quantity's filter ({', '.join(_QUANTITIES)}): SPEC is {_ONE_EURO_SPEC} (One Euro) or "
            f"{_ALPHA_BETA_SPEC}; repeatable; wins over the flags above"
        ),
    )


def video_options(args: argparse.Namespace):
    """(TrackerOptions, SmoothingOptions) from :func:`add_video_args`' flags (InputError for bad values)."""
    from dataclasses import replace

    from trans3dhead.errors import InputError
    from trans3dhead.inference.smoothing import SmoothingOptions, one_euro_base
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
    if common and args.alpha_beta is not None:
        raise InputError(
            "--alpha-beta and the One Euro flags (--min-cutoff --beta --d-cutoff --filter-order --lead) each "
            "set every quantity's filter: give one of them (--smooth sets one quantity)"
        )
    defaults = SmoothingOptions()
    filters = {name: getattr(defaults, name) for name in _QUANTITIES}
    if common:
        filters = {name: replace(one_euro_base(name, filters[name]), **common) for name in _QUANTITIES}
    if args.alpha_beta is not None:
        filters = {name: _alpha_beta(filters[name], args.alpha_beta) for name in _QUANTITIES}
    for name, kind, numbers in args.smooth:
        if kind == "alpha_beta":
            filters[name] = _alpha_beta(filters[name], numbers)
            continue
        values = dict(zip(("min_cutoff", "beta", "d_cutoff", "order", "lead"), numbers, strict=False))
        if "order" in values and values["order"].is_integer():
            values["order"] = int(values["order"])  # else refused by OneEuroParams, which wants an integer
        filters[name] = replace(one_euro_base(name, filters[name]), **values)  # replace() validates them
    return tracking, SmoothingOptions(enabled=not args.no_smoothing, **filters)


def _alpha_beta(current, numbers: tuple[float, ...]):
    """AlphaBetaParams with ``numbers`` = (alpha[, beta]); beta from ``current`` if alpha-beta, else 0.3."""
    from dataclasses import replace

    from trans3dhead.inference.alpha_beta import AlphaBetaParams

    base = current if isinstance(current, AlphaBetaParams) else AlphaBetaParams()
    return replace(base, **dict(zip(("alpha", "beta"), numbers, strict=False)))
