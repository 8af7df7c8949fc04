"""What ``trans3dhead predict`` reads: image and video files, folders of them, and their output names.

Folders are searched **recursively**; files whose suffix is not in :data:`IMAGE_SUFFIXES` or
:data:`VIDEO_SUFFIXES` are skipped there (a file named on the command line is always tried, as an
image unless its suffix says video).  Each input gets a unique output ``key``: its stem for a file
given directly, ``<folder name>/<relative path without suffix>`` for a file found in a folder.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from trans3dhead.data.io import ImageReadError, read_image

__all__ = ["IMAGE_SUFFIXES", "VIDEO_SUFFIXES", "InputFile", "collect_inputs", "read_image", "ImageReadError"]

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm"}
)
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"})


@dataclass(frozen=True)
class InputFile:
    """One file to process.

    path: the file.  key: output name (unique, '/'-separated, no suffix).  names: the names a ``--boxes``
    table may use for it, most specific first (path relative to its folder, then the file name).
    is_video: decoded frame by frame with OpenCV.
    """

    path: Path
    key: str
    names: tuple[str, ...]
    is_video: bool


def _unique(key: str, used: set[str]) -> str:
    candidate, n = key, 2
    while candidate in used:
        candidate, n = f"{key}_{n}", n + 1
    used.add(candidate)
    return candidate


def _folder_files(folder: Path) -> list[Path]:
    files = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        suffix = path.suffix.lower()
        if suffix in IMAGE_SUFFIXES or suffix in VIDEO_SUFFIXES:
            files.append(path)
        else:
            logger.debug("skipping %s (not an image or video suffix)", path)
    return files


def collect_inputs(paths: Sequence[str | Path]) -> list[InputFile]:
    """Expand the command line's INPUT arguments; a path that does not exist raises FileNotFoundError."""
    used: set[str] = set()
    out: list[InputFile] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise FileNotFoundError(f"{path}: input not found")
        if path.is_dir():
            found = _folder_files(path)
            if not found:
                logger.warning("%s: no image or video files in this folder", path)
            for file in found:
                rel = file.relative_to(path)
                key = _unique(f"{path.resolve().name}/{rel.with_suffix('').as_posix()}", used)
                names = (rel.as_posix(), file.name)
                out.append(InputFile(file, key, names, file.suffix.lower() in VIDEO_SUFFIXES))
        else:
            key = _unique(path.stem, used)
            out.append(InputFile(path, key, (path.name,), path.suffix.lower() in VIDEO_SUFFIXES))
    return out

