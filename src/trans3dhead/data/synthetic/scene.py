"""Everything in a synthetic image besides the head: backgrounds, occluders and low-quality degradations.

Images are (H, W, 3) float32 RGB in [0, 1] until :func:`degrade`, which works on uint8.  All drawing
uses OpenCV primitives and coarse grids, so a 256 px background costs a few milliseconds.

* Backgrounds: a base (linear or radial gradient, multi-octave smooth noise, or a periodic texture:
  stripes, checks, plaid) with up to eight random shapes on top, some of them skin-coloured ellipses
  about the size of a head, and sometimes fine grain -- so colour, edges and blobs alone do not give the
  head away.
* Occluders: ellipses, bars, polygons and hand-like blobs (skin-coloured palm with finger bars), solid
  or textured, centred on a random visible face pixel or near it.
* Degradations ("lq" quality): Gaussian blur, down-up resampling, Gaussian noise, JPEG compression.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = [
    "random_background",
    "random_skin_tone",
    "draw_occluders",
    "occluder_sprite",
    "degrade",
]

# Skin tones (RGB albedo) from light to dark; a tone is a random blend of two neighbours.
SKIN_TONES = np.array(
    [[0.95, 0.78, 0.68], [0.88, 0.66, 0.53], [0.74, 0.52, 0.38], [0.55, 0.37, 0.25], [0.36, 0.23, 0.15]]
)


def random_skin_tone(rng: np.random.Generator) -> np.ndarray:
    """(3,) RGB albedo of a random skin tone."""
    i = int(rng.integers(len(SKIN_TONES) - 1))
    t = rng.uniform()
    return (1 - t) * SKIN_TONES[i] + t * SKIN_TONES[i + 1]


def _colour(rng: np.random.Generator) -> np.ndarray:
    """A random RGB colour, sometimes desaturated, sometimes skin-like."""
    kind = rng.uniform()
    if kind < 0.15:
        return random_skin_tone(rng) * rng.uniform(0.7, 1.1)
    colour = rng.uniform(0.0, 1.0, size=3)
    if kind < 0.5:
        colour = colour.mean() + rng.uniform(0.0, 0.5) * (colour - colour.mean())
    return np.clip(colour, 0.0, 1.0)


def _coarse_grid(cells: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised coordinates (cells, 1) and (1, cells) in [0, 1] of a coarse square grid."""
    t = (np.arange(cells, dtype=np.float32) + 0.5) / cells
    return t[:, None], t[None, :]


def _blend(weight: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(H, W) float32 weights in [0, 1] mixing colours a and b -> (H, W, 3) float32."""
    weight = weight.astype(np.float32, copy=False)
    # one plane per channel, merged: several times faster than broadcasting (H, W, 1) * (3,)
    return cv2.merge([weight * float(b[c] - a[c]) + float(a[c]) for c in range(3)])


def _upsample(
    image: np.ndarray, height: int, width: int, interpolation: int = cv2.INTER_LINEAR
) -> np.ndarray:
    return cv2.resize(image, (width, height), interpolation=interpolation)


def _gradient(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A linear or radial gradient between two colours (drawn on a coarse grid, then upsampled)."""
    y, x = _coarse_grid(32)
    if rng.uniform() < 0.5:
        angle = rng.uniform(0.0, 2.0 * np.pi)
        t = np.cos(angle) * x + np.sin(angle) * y
    else:
        cx, cy = rng.uniform(0.0, 1.0, size=2)
        t = np.sqrt((x - cx) ** 2 + (y - cy) ** 2)
    t = ((t - t.min()) / max(float(t.max() - t.min()), 1e-6)).astype(np.float32)
    return _upsample(_blend(t, _colour(rng), _colour(rng)), height, width)


def _smooth_noise(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Two to four octaves of bicubically upsampled uniform noise around a random colour."""
    side = 64
    out = np.zeros((side, side, 3), np.float32)
    amplitude, cells = 1.0, int(rng.integers(2, 6))
    for _ in range(int(rng.integers(2, 5))):
        coarse = rng.uniform(-1.0, 1.0, size=(cells, cells, 3)).astype(np.float32)
        out += amplitude * _upsample(coarse, side, side, cv2.INTER_CUBIC)
        amplitude, cells = amplitude * 0.5, cells * 2
    out = _colour(rng).astype(np.float32) + np.float32(rng.uniform(0.15, 0.45)) * out
    return np.clip(_upsample(out, height, width, cv2.INTER_CUBIC), 0.0, 1.0)


def _texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Stripes, checks or plaid between two colours, at a random frequency and orientation."""
    scale = np.float32(2 * np.pi * rng.uniform(3.0, 30.0) / max(height, width))
    angle = rng.uniform(0.0, np.pi)
    c, s = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    y, x = np.arange(height, dtype=np.float32), np.arange(width, dtype=np.float32)
    u = np.add.outer(s * y, c * x) * scale  # (H, W) phase along the stripes' normal
    kind = rng.integers(3)
    if kind == 0:
        weight = 0.5 + 0.5 * np.sin(u)
    else:
        v = np.add.outer(c * y, -s * x) * scale
        if kind == 1:
            weight = (np.sin(u) * np.sin(v) > 0).astype(np.float32)
        else:
            weight = 0.25 * (2 + np.sin(u) + np.sin(0.7 * v))
    return _blend(weight, _colour(rng), _colour(rng))


def _draw_shape(rng: np.random.Generator, canvas: np.ndarray, centre, radius: float, value) -> None:
    """Fill a random ellipse, rotated bar or polygon of about ``radius`` pixels into ``canvas``."""
    cx, cy = int(round(centre[0])), int(round(centre[1]))
    kind = rng.integers(3)
    if kind == 0:
        axes = (max(1, int(radius * rng.uniform(0.4, 1.0))), max(1, int(radius * rng.uniform(0.4, 1.0))))
        cv2.ellipse(canvas, (cx, cy), axes, float(rng.uniform(0, 180)), 0, 360, value, -1)
    elif kind == 1:
        length, thickness = radius * rng.uniform(1.0, 2.0), radius * rng.uniform(0.15, 0.5)
        box = ((float(cx), float(cy)), (float(length), float(thickness)), float(rng.uniform(0, 180)))
        cv2.fillPoly(canvas, [np.round(cv2.boxPoints(box)).astype(np.int32)], value)
    else:
        count = int(rng.integers(3, 8))
        angles = np.sort(rng.uniform(0.0, 2.0 * np.pi, size=count))
        radii = radius * rng.uniform(0.4, 1.0, size=count)
        points = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], 1)
        cv2.fillPoly(canvas, [np.round(points).astype(np.int32)], value)


def _fill(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A texture or gradient image to paint a shape with."""
    return _texture(rng, height, width) if rng.uniform() < 0.5 else _gradient(rng, height, width)


def _paint_mask(rng: np.random.Generator, image: np.ndarray, mask: np.ndarray, *, textured: bool) -> None:
    """Fill ``image`` where ``mask`` (uint8) is set, with a solid colour or a texture, in place."""
    x, y, w, h = cv2.boundingRect(mask)
    if w == 0 or h == 0:
        return
    window = mask[y : y + h, x : x + w].astype(bool)
    if textured:  # the texture is drawn for the shape's bounding box only
        np.copyto(image[y : y + h, x : x + w], _fill(rng, h, w), where=window[..., None])
    else:
        image[y : y + h, x : x + w][window] = _colour(rng)


def random_background(rng: np.random.Generator, *, height: int, width: int) -> np.ndarray:
    """A random (H, W, 3) float32 background in [0, 1] (see the module docstring)."""
    base = (_gradient, _smooth_noise, _texture)[int(rng.integers(3))]
    image = np.ascontiguousarray(base(rng, height, width), dtype=np.float32)
    side = min(height, width)
    for _ in range(int(rng.integers(0, 9))):
        centre = rng.uniform(0, width), rng.uniform(0, height)
        if rng.uniform() < 0.25:  # a head-sized skin-coloured blob
            axes = (int(side * rng.uniform(0.1, 0.25)), int(side * rng.uniform(0.15, 0.35)))
            colour = tuple(float(c) for c in random_skin_tone(rng) * rng.uniform(0.5, 1.0))
            angle = float(rng.uniform(-30, 30))
            cv2.ellipse(image, (int(centre[0]), int(centre[1])), axes, angle, 0, 360, colour, -1)
        elif rng.uniform() < 0.3:
            mask = np.zeros((height, width), np.uint8)
            _draw_shape(rng, mask, centre, side * rng.uniform(0.05, 0.4), 1)
            _paint_mask(rng, image, mask, textured=True)
        else:
            colour = tuple(float(c) for c in _colour(rng))
            _draw_shape(rng, image, centre, side * rng.uniform(0.05, 0.4), colour)
    if rng.uniform() < 0.3:
        grain = rng.standard_normal(size=(height, width, 1), dtype=np.float32)
        image += grain * np.float32(rng.uniform(0.01, 0.04))
    return np.clip(image, 0.0, 1.0, out=image)


def _hand(rng: np.random.Generator, height: int, width: int, centre, radius: float) -> np.ndarray:
    """A palm ellipse with four finger bars fanning out from it, as an (H, W) uint8 mask."""
    mask = np.zeros((height, width), np.uint8)
    angle = rng.uniform(0.0, 2.0 * np.pi)
    cx, cy = float(centre[0]), float(centre[1])
    palm = (max(1, int(radius * 0.55)), max(1, int(radius * 0.45)))
    cv2.ellipse(mask, (int(cx), int(cy)), palm, float(np.degrees(angle)), 0, 360, 1, -1)
    for k in range(4):
        a = angle + (k - 1.5) * 0.3
        tip = (int(cx + radius * 1.2 * np.cos(a)), int(cy + radius * 1.2 * np.sin(a)))
        cv2.line(mask, (int(cx), int(cy)), tip, 1, max(1, int(radius * 0.18)))
    return mask


def draw_occluders(
    rng: np.random.Generator, image: np.ndarray, face_mask: np.ndarray, *, count: int
) -> np.ndarray:
    """Draw ``count`` occluders over the face, in place; returns their union (H, W) bool.

    Args:
        image: (H, W, 3) float32 render, modified in place.
        face_mask: (H, W) bool visible face pixels (occluders are centred on or near them).
        count: number of occluders.
    """
    height, width = face_mask.shape
    rows, cols = np.nonzero(face_mask)
    union = np.zeros((height, width), bool)
    if rows.size == 0:
        return union
    extent = float(max(rows.max() - rows.min(), cols.max() - cols.min(), 4))
    for _ in range(count):
        pick = int(rng.integers(rows.size))
        centre = cols[pick] + rng.normal(0, 0.1 * extent), rows[pick] + rng.normal(0, 0.1 * extent)
        radius = extent * rng.uniform(0.2, 0.6)
        if rng.uniform() < 0.3:
            mask = _hand(rng, height, width, centre, radius)
            image[mask.astype(bool)] = random_skin_tone(rng) * rng.uniform(0.6, 1.0)
        else:
            mask = np.zeros((height, width), np.uint8)
            _draw_shape(rng, mask, centre, radius, 1)
            _paint_mask(rng, image, mask, textured=rng.uniform() < 0.4)
        union |= mask.astype(bool)
    return union


def occluder_sprite(rng: np.random.Generator, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """One occluder of :func:`draw_occluders`' kinds (a hand-like blob, or a solid or textured ellipse,
    bar or polygon) of about ``radius`` pixels, drawn on its own square canvas so it can be moved across
    frames: (mask (s, s) bool, colours (s, s, 3) float32) with ``s = 2 ceil(1.3 radius) + 1`` and the
    occluder's centre at the canvas centre."""
    half = int(np.ceil(1.3 * radius))
    side = 2 * half + 1
    colours = np.zeros((side, side, 3), np.float32)
    centre = (float(half), float(half))
    if rng.uniform() < 0.3:
        mask = _hand(rng, side, side, centre, radius)
        colours[:] = random_skin_tone(rng) * rng.uniform(0.6, 1.0)
    else:
        mask = np.zeros((side, side), np.uint8)
        _draw_shape(rng, mask, centre, radius, 1)
        _paint_mask(rng, colours, mask, textured=rng.uniform() < 0.4)
    return mask.astype(bool), colours


def degrade(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """A low-quality version of an (H, W, 3) uint8 image: blur, resampling, noise, then JPEG."""
    height, width = image.shape[:2]
    out = image
    scale = min(height, width) / 256.0
    if rng.uniform() < 0.8:
        out = cv2.GaussianBlur(out, (0, 0), sigmaX=float(rng.uniform(0.6, 1.8) * scale))
    if rng.uniform() < 0.4:
        factor = rng.uniform(0.35, 0.7)
        size = (max(1, int(width * factor)), max(1, int(height * factor)))
        small = cv2.resize(out, size, interpolation=cv2.INTER_AREA)
        out = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    if rng.uniform() < 0.7:
        noise = rng.standard_normal(size=out.shape, dtype=np.float32) * np.float32(rng.uniform(2.0, 10.0))
        out = np.clip(out.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    quality = int(rng.integers(8, 36))
    ok, encoded = cv2.imencode(
        ".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
