"""Argument groups shared by several commands."""

from __future__ import annotations

import argparse


def add_asset_args(parser: argparse.ArgumentParser) -> None:
    """``--flame FILE --aux DIR``: the FLAME model and the DAD-3DHeads auxiliary folder."""
    parser.add_argument(
        "--flame", help="FLAME model file (.pkl or .npz); default $TRANS3DHEAD_FLAME, else the embedded model"
    )
    parser.add_argument("--aux", help="DAD-3DHeads auxiliary directory; default $TRANS3DHEAD_FLAME_AUX")
