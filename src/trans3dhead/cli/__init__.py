"""Command-line interface: ``trans3dhead <command> ...``.

Each sub-command lives in its own module of this package and defines ``register(subparsers)``, which adds
its parser and sets ``func`` (``args -> exit code``).  Modules are discovered in name order; heavy imports
belong inside the command functions so that ``trans3dhead --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trans3dhead", description="3D dense head alignment: Trans3DHead and DAD-3DNet with FLAME"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s"
    )
    from trans3dhead.cli._errors import USER_ERRORS

    try:
        return int(args.func(args) or 0)
    except USER_ERRORS as exc:
        message = " ".join(str(exc).split())  # one line, whatever a library put in the message
        print(f"trans3dhead {args.command}: error: {message}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        from trans3dhead.engine.loop import NonFiniteLossError

        if not isinstance(exc, NonFiniteLossError):
            raise
        print(f"trans3dhead {args.command}: training stopped: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"trans3dhead {args.command}: interrupted", file=sys.stderr)
        return 130
