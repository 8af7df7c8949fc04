"""Tests for trans3dhead.render: coverage rules, z-buffer, barycentrics, visibility, shading, overlay."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from trans3dhead.render import (
    MAX_SCREEN_COORD,
    Light,
    icosphere,
    interpolate,
    overlay,
    rasterize,
    render_mesh,
    shade,
    vertex_normals,
    vertex_visibility,
)

# --------------------------------------------------------------------------- helpers


def reference_coverage(triangle: np.ndarray, height: int, width: int) -> np.ndarray:
    """(H, W) bool: pixel centres inside a triangle with corners on a 1/4-pixel grid, in exact integer
    arithmetic.  A centre on an edge counts when the triangle's interior lies to the edge's right (+x),
    or below it (+y) when the edge is horizontal."""
    q = np.rint(np.asarray(triangle, dtype=np.float64)[:, :2] * 4).astype(np.int64)  # (3, 2) in 1/4 px
    rows, cols = np.mgrid[0:height, 0:width]
    px, py = 4 * cols, 4 * rows
    area = (q[1, 0] - q[0, 0]) * (q[2, 1] - q[0, 1]) - (q[1, 1] - q[0, 1]) * (q[2, 0] - q[0, 0])
    if area == 0:
        return np.zeros((height, width), dtype=bool)
    sign = 1 if area > 0 else -1
    inside = np.ones((height, width), dtype=bool)
    for a, b in ((q[0], q[1]), (q[1], q[2]), (q[2], q[0])):
        value = sign * ((b[0] - a[0]) * (py - a[1]) - (b[1] - a[1]) * (px - a[0]))
        normal_x, normal_y = sign * (a[1] - b[1]), sign * (b[0] - a[0])  # points into the triangle
        owns_edge = normal_x > 0 or (normal_x == 0 and normal_y > 0)
        inside &= (value > 0) | ((value == 0) & owns_edge)
    return inside


def sphere_screen(frequency: int = 4, size: int = 32) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A unit icosphere placed orthographically in a size x size image: (V, 3) screen, (F, 3), (V, 3) unit."""
    unit, faces = icosphere(frequency=frequency)
    radius = 0.35 * size
    screen = np.c_[size / 2 + radius * unit[:, :2], 3 * radius + radius * unit[:, 2]]
    return screen, faces, unit


def grid_mesh(rng: np.random.Generator, cells: int = 4, spacing: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Jittered triangulated grid covering the square [1, 1 + cells * spacing]^2, random diagonals and
    windings; interior vertices move by multiples of 1/4 px (some stay on pixel centres)."""
    ticks = 1 + spacing * np.arange(cells + 1)
    xs, ys = np.meshgrid(ticks, ticks)
    points = np.c_[xs.ravel(), ys.ravel()].astype(np.float64)
    interior = (
        (xs.ravel() > ticks[0])
        & (xs.ravel() < ticks[-1])
        & (ys.ravel() > ticks[0])
        & (ys.ravel() < ticks[-1])
    )
    points[interior] += rng.integers(-3, 4, size=(int(interior.sum()), 2)) / 4.0
    faces = []
    for r in range(cells):
        for c in range(cells):
            a, b = r * (cells + 1) + c, r * (cells + 1) + c + 1
            d, e = a + cells + 1, b + cells + 1
            faces += [(a, b, e), (a, e, d)] if rng.random() < 0.5 else [(a, b, d), (b, e, d)]
    faces = np.array(faces)
    flip = rng.random(len(faces)) < 0.5
    faces[flip] = faces[flip][:, ::-1]
    return np.c_[points, np.full(len(points), 5.0)], faces


# --------------------------------------------------------------------------- coverage


def test_right_triangle_known_pixels() -> None:
    # Left and top edges own their centres, the hypotenuse does not: exactly {i, j >= 0, i + j < 4}.
    fragments = rasterize(np.array([[0, 0, 1], [4, 0, 1], [0, 4, 1.0]]), np.array([[0, 1, 2]]), 6, 6)
    rows, cols = np.mgrid[0:6, 0:6]
    np.testing.assert_array_equal(fragments.mask, (rows + cols) < 4)
    assert fragments.mask.sum() == 10


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_triangles_match_exact_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(40):  # corners on a 1/4-pixel grid, many partially off-screen, both windings
        triangle = np.c_[rng.integers(-24, 88, size=(3, 2)) / 4.0, np.ones(3)]
        fragments = rasterize(triangle, np.array([[0, 1, 2]]), 13, 17)
        np.testing.assert_array_equal(fragments.mask, reference_coverage(triangle, 13, 17))


def test_shared_edges_cover_every_centre_once() -> None:
    rng = np.random.default_rng(3)
    for _ in range(3):
        vertices, faces = grid_mesh(rng)
        counts = sum(rasterize(vertices, face[None], 16, 16).mask.astype(int) for face in faces)
        # The square [1, 13]^2 owns its left/top boundary only: the half-open 12 x 12 block.
        expected = np.zeros((16, 16), dtype=int)
        expected[1:13, 1:13] = 1
        np.testing.assert_array_equal(counts, expected)
        np.testing.assert_array_equal(rasterize(vertices, faces, 16, 16).mask, expected.astype(bool))


def test_partially_and_fully_offscreen_triangles() -> None:
    huge = np.array([[-1000.0, -1000.0, 1.0], [3000.0, 5.0, 1.0], [5.0, 3000.0, 1.0]])
    assert rasterize(huge, np.array([[0, 1, 2]]), 9, 7).mask.all()
    outside = np.array([[-20.0, -20.0, 1.0], [-5.0, -20.0, 1.0], [-20.0, -5.0, 1.0]])
    assert not rasterize(outside, np.array([[0, 1, 2]]), 9, 7).mask.any()
    corner = np.array([[-6.5, -3.0, 1.0], [5.25, -1.0, 1.0], [-2.0, 4.75, 1.0]])
    np.testing.assert_array_equal(
        rasterize(corner, np.array([[0, 1, 2]]), 9, 7).mask, reference_coverage(corner, 9, 7)
    )


def test_skipped_faces_behind_camera_or_out_of_range() -> None:
    triangle = np.array([[0.0, 0.0, 1.0], [8.0, 0.0, 1.0], [0.0, 8.0, 1.0]])
    behind, far = triangle.copy(), triangle.copy()
    behind[2, 2] = 0.0
    far[1, 0] = 2 * MAX_SCREEN_COORD
    for vertices in (behind, far):
        assert not rasterize(vertices, np.array([[0, 1, 2]]), 8, 8).mask.any()


def test_degenerate_triangle_draws_nothing() -> None:
    line = np.array([[0.0, 0.0, 1.0], [2.0, 2.0, 1.0], [4.0, 4.0, 1.0]])
    fragments = rasterize(line, np.array([[0, 1, 2], [0, 0, 1]]), 6, 6)
    assert not fragments.mask.any()
    assert np.isinf(fragments.depth).all()


def test_float32_input_matches_float64() -> None:
    screen, faces, _ = sphere_screen()
    a = rasterize(screen, faces, 32, 32)
    b = rasterize(screen.astype(np.float32), faces.astype(np.int32), 32, 32)
    np.testing.assert_array_equal(a.face_id, b.face_id)


# --------------------------------------------------------------------------- z-buffer and barycentrics


def test_nearer_triangle_wins_in_either_order() -> None:
    near = [[1.0, 1.0, 2.0], [9.0, 1.0, 2.0], [1.0, 9.0, 2.0]]
    far = [[2.0, 2.0, 5.0], [10.0, 3.0, 5.0], [3.0, 10.0, 5.0]]
    vertices = np.array(near + far)
    first = rasterize(vertices, np.array([[0, 1, 2], [3, 4, 5]]), 12, 12)
    second = rasterize(vertices, np.array([[3, 4, 5], [0, 1, 2]]), 12, 12)
    near_mask = reference_coverage(vertices[:3], 12, 12)
    np.testing.assert_array_equal(first.face_id == 0, near_mask)
    np.testing.assert_array_equal(second.face_id == 1, near_mask)
    np.testing.assert_array_equal(first.depth, second.depth)
    assert set(np.unique(first.depth[near_mask])) == {2.0}


def test_barycentrics_interpolate_linear_functions() -> None:
    vertices = np.array([[0.75, -2.0, 0.0], [14.5, 3.25, 0.0], [4.0, 11.5, 0.0]])
    vertices[:, 2] = 3.0 + 0.2 * vertices[:, 0] + 0.1 * vertices[:, 1]  # depth linear in x, y
    fragments = rasterize(vertices, np.array([[2, 0, 1]]), 12, 16)
    rows, cols = np.nonzero(fragments.mask)
    values = interpolate(fragments, np.c_[0.3 * vertices[:, 0] - 1.7 * vertices[:, 1] + 2.0])
    np.testing.assert_allclose(values[rows, cols, 0], 0.3 * cols - 1.7 * rows + 2.0, atol=1e-4)
    np.testing.assert_allclose(fragments.depth[rows, cols], 3.0 + 0.2 * cols + 0.1 * rows, rtol=1e-6)
    bary = fragments.bary[rows, cols]
    np.testing.assert_allclose(bary.sum(axis=1), 1.0, atol=1e-6)
    assert bary.min() >= -1e-6 and len(rows) > 40
    assert not fragments.bary[~fragments.mask].any()


# --------------------------------------------------------------------------- culling, determinism


def test_backface_culling_keeps_the_visible_side() -> None:
    screen, faces, _ = sphere_screen()
    plain = rasterize(screen, faces, 32, 32)
    np.testing.assert_array_equal(
        rasterize(screen, faces, 32, 32, cull_backfaces=True).face_id, plain.face_id
    )
    inside_out = rasterize(screen, faces[:, ::-1], 32, 32, cull_backfaces=True)  # shows the far side
    assert inside_out.mask.sum() == plain.mask.sum()
    assert (inside_out.depth[plain.mask] > plain.depth[plain.mask]).all()
    vertices, quad = plane()  # counter-clockwise as displayed: kept; reversed: culled
    assert rasterize(vertices, quad, 12, 12, cull_backfaces=True).mask.sum() == 100
    assert not rasterize(vertices, quad[:, ::-1], 12, 12, cull_backfaces=True).mask.any()


def test_render_is_deterministic_and_independent_of_face_order() -> None:
    screen, faces, unit = sphere_screen()
    colors = (unit + 1) / 2
    first = render_mesh(screen, faces, colors, height=32, width=32, light=Light(specular=0.3))
    second = render_mesh(screen, faces, colors, height=32, width=32, light=Light(specular=0.3))
    for name in ("image", "depth", "face_id", "visible"):
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name))
    with ThreadPoolExecutor(max_workers=2) as pool:  # the kernels release the GIL and share no state
        threaded = list(pool.map(lambda _: rasterize(screen, faces, 32, 32).face_id, range(4)))
    for face_id in threaded:
        np.testing.assert_array_equal(face_id, first.face_id)
    order = np.random.default_rng(0).permutation(len(faces))
    shuffled = rasterize(screen, faces[order], 32, 32)
    np.testing.assert_array_equal(shuffled.depth, first.depth)
    np.testing.assert_array_equal(order[shuffled.face_id[first.mask]], first.face_id[first.mask])


# --------------------------------------------------------------------------- visibility


def test_vertex_behind_a_surface_is_hidden() -> None:
    far_quad = [[2.0, 2.0, 10.0], [13.0, 2.0, 10.0], [13.0, 13.0, 10.0], [2.0, 13.0, 10.0]]
    occluder = [[0.0, 0.0, 1.0], [8.0, 0.0, 1.0], [0.0, 8.0, 1.0]]
    extra = [[30.0, 4.0, 1.0], [5.0, 5.0, -1.0]]  # outside the image; behind the camera
    vertices = np.array(far_quad + occluder + extra)
    fragments = rasterize(vertices, np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6]]), 16, 16)
    visible = vertex_visibility(vertices, fragments, depth_tolerance=0.0)
    np.testing.assert_array_equal(visible, [False, True, True, True, True, True, True, False, False])


def test_sphere_front_visible_back_hidden() -> None:
    screen, faces, unit = sphere_screen(frequency=6, size=64)
    visible = render_mesh(screen, faces, np.full_like(unit, 0.5), height=64, width=64).visible
    assert visible[unit[:, 2] < 0].all()  # the front surface's depth is convex: never hidden
    assert not visible[unit[:, 2] > 0.5].any()  # > 3 px inside the silhouette, behind the front


# --------------------------------------------------------------------------- shading


def plane(winding_front: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """A 10 x 10 px square at constant depth; front-facing (counter-clockwise on screen) by default."""
    vertices = np.array([[1.0, 1.0, 4.0], [11.0, 1.0, 4.0], [11.0, 11.0, 4.0], [1.0, 11.0, 4.0]])
    faces = np.array([[0, 3, 2], [0, 2, 1]])  # (1,1) -> (1,11) -> (11,11): counter-clockwise as displayed
    return vertices, faces if winding_front else faces[:, ::-1]


def test_lambert_plane_facing_the_light() -> None:
    vertices, faces = plane()
    albedo = np.tile([0.8, 0.5, 0.25], (4, 1))
    light = Light(direction=(0.0, 0.0, -1.0), color=(0.6, 0.5, 0.4), ambient=(0.2, 0.3, 0.1))
    result = render_mesh(
        vertices, faces, albedo, height=12, width=12, light=light, background=(0.1, 0.2, 0.3)
    )
    expected = albedo[0] * (np.array(light.ambient) + np.array(light.color))
    np.testing.assert_allclose(result.image[result.mask], np.broadcast_to(expected, (100, 3)), atol=1e-5)
    np.testing.assert_allclose(
        result.image[~result.mask], np.broadcast_to([0.1, 0.2, 0.3], (44, 3)), atol=1e-7
    )
    tilted = Light(
        direction=(np.sin(np.pi / 3), 0.0, -np.cos(np.pi / 3)), color=(0.6, 0.5, 0.4), ambient=(0, 0, 0)
    )
    image = render_mesh(vertices, faces, albedo, height=12, width=12, light=tilted).image
    np.testing.assert_allclose(image[1, 1], albedo[0] * np.array(tilted.color) * 0.5, atol=1e-5)


def test_back_side_gets_only_ambient_and_specular_adds_color() -> None:
    vertices, faces = plane(winding_front=False)  # computed normals point away from the camera
    albedo = np.full((4, 3), 0.5)
    light = Light(color=(0.6, 0.6, 0.6), ambient=(0.2, 0.2, 0.2), specular=0.25)
    image = render_mesh(vertices, faces, albedo, height=12, width=12, light=light).image
    np.testing.assert_allclose(image[5, 5], [0.1, 0.1, 0.1], atol=1e-6)
    fragments = rasterize(vertices, faces, 12, 12)
    front_normals = np.tile([0.0, 0.0, -1.0], (4, 1))
    lit = shade(fragments, albedo, front_normals, light=light)
    np.testing.assert_allclose(lit[5, 5], 0.5 * (0.2 + 0.6) + 0.6 * 0.25, atol=1e-6)


def test_vertex_normals_are_area_weighted() -> None:
    vertices = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 3]])
    normals = vertex_normals(vertices, np.array([[0, 1, 2], [0, 3, 1]]))  # +z (area 1/2), +y (area 3/2)
    np.testing.assert_allclose(normals[0], np.array([0.0, 3.0, 1.0]) / np.sqrt(10.0))
    np.testing.assert_allclose(normals[2], [0.0, 0.0, 1.0])
    unit, faces = icosphere(frequency=3)
    np.testing.assert_allclose(vertex_normals(unit, faces), unit, atol=0.02)


def test_supersampled_edge_has_fractional_coverage() -> None:
    vertices = np.array([[-10.0, -10.0, 1.0], [4.0, -10.0, 1.0], [4.0, 20.0, 1.0], [-10.0, 20.0, 1.0]])
    faces = np.array([[0, 3, 2], [0, 2, 1]])
    light = Light(color=(0.0, 0.0, 0.0), ambient=(1.0, 1.0, 1.0))
    result = render_mesh(vertices, faces, np.full((4, 3), 0.8), height=6, width=8, light=light, supersample=2)
    np.testing.assert_allclose(result.coverage[:, :4], 1.0)
    np.testing.assert_allclose(result.coverage[:, 4], 0.5)
    np.testing.assert_allclose(result.coverage[:, 5:], 0.0)
    np.testing.assert_allclose(result.image[:, 4], 0.4, atol=1e-6)  # half 0.8 over a black background
    assert result.mask[:, :4].all() and not result.mask[:, 4:].any()  # the right edge owns no centres


def test_overlay_blends_only_on_the_mesh() -> None:
    vertices, faces = plane()
    result = render_mesh(vertices, faces, np.full((4, 3), 0.5), height=12, width=12)
    photo = np.full((12, 12, 3), 100, dtype=np.uint8)
    out = overlay(photo, result, alpha=0.5, color=(1.0, 0.0, 0.0))
    np.testing.assert_array_equal(out[result.mask], np.broadcast_to([178, 50, 50], (100, 3)))
    np.testing.assert_array_equal(out[~result.mask], 100)
    assert (photo == 100).all()
    shaded = overlay(photo, result, alpha=1.0)
    np.testing.assert_array_equal(shaded[result.mask], np.rint(255 * result.image[result.mask]))


# --------------------------------------------------------------------------- lights and meshes


def test_random_light_comes_from_the_front_and_is_reproducible() -> None:
    lights = [Light.random(np.random.default_rng(seed), max_angle_deg=50.0) for seed in range(20)]
    assert Light.random(np.random.default_rng(3), max_angle_deg=50.0) == lights[3]
    for light in lights:
        assert np.isclose(np.linalg.norm(light.direction), 1.0)
        assert -light.direction[2] >= np.cos(np.radians(50.0)) - 1e-12
        assert min(light.color) > 0 and min(light.ambient) > 0
    assert len({light.direction for light in lights}) == 20


def test_icosphere_is_closed_and_consistently_wound() -> None:
    for frequency in (1, 2, 5):
        vertices, faces = icosphere(frequency=frequency)
        assert len(vertices) == 10 * frequency**2 + 2 and len(faces) == 20 * frequency**2
        directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
        assert len(np.unique(directed, axis=0)) == len(directed)  # each directed edge once ...
        assert len(np.unique(np.sort(directed, axis=1), axis=0)) == len(directed) // 2  # ... both ways
        np.testing.assert_allclose(np.linalg.norm(vertices, axis=1), 1.0)


# --------------------------------------------------------------------------- bad inputs

TRI = np.array([[0.0, 0.0, 1.0], [4.0, 0.0, 1.0], [0.0, 4.0, 1.0]])
FACE = np.array([[0, 1, 2]])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: rasterize(TRI[:, :2], FACE, 4, 4), "screen_vertices must have shape"),
        (lambda: rasterize(TRI, FACE[:, :2], 4, 4), "faces must have shape"),
        (lambda: rasterize(TRI, FACE + 1, 4, 4), "faces index vertex 3"),
        (lambda: rasterize(TRI, -FACE, 4, 4), "faces index vertex -2"),
        (lambda: rasterize(TRI, FACE.astype(float), 4, 4), "faces must be an integer"),
        (lambda: rasterize(np.where(TRI == 4.0, np.nan, TRI), FACE, 4, 4), "screen_vertices must be finite"),
        (lambda: rasterize(TRI, FACE, 0, 4), "height must be"),
        (lambda: rasterize(TRI, FACE, 4, 2.5), "width must be an int"),
        (lambda: render_mesh(TRI, FACE, np.ones((2, 3)), height=4, width=4), "vertex_colors must have shape"),
        (
            lambda: render_mesh(TRI, FACE, np.full((3, 3), 2.0), height=4, width=4),
            "vertex_colors must lie in",
        ),
        (lambda: render_mesh(TRI, FACE, np.ones((3, 3)), height=4, width=4, supersample=0), "supersample"),
        (
            lambda: render_mesh(TRI, FACE, np.ones((3, 3)), height=4, width=4, normals=np.ones((3, 2))),
            "normals",
        ),
        (
            lambda: render_mesh(TRI, FACE, np.ones((3, 3)), height=4, width=4, background=np.ones(4)),
            "background",
        ),
        (
            lambda: render_mesh(TRI, FACE, np.ones((3, 3)), height=4, width=4, depth_tolerance=-1.0),
            "depth_tol",
        ),
        (lambda: render_mesh(TRI, FACE, np.ones((3, 3)), height=4, width=4, light="sun"), "light must be"),
        (
            lambda: vertex_visibility(TRI, rasterize(TRI, FACE, 4, 4), depth_tolerance=np.inf),
            "depth_tolerance",
        ),
        (lambda: interpolate(rasterize(TRI, FACE, 4, 4), np.ones(3)), "attributes must have shape"),
        (lambda: vertex_normals(TRI, FACE + 5), "faces index vertex"),
        (lambda: Light(direction=(0.0, 0.0, 0.0)), "Light.direction must be non-zero"),
        (lambda: Light(color=(1.0, -1.0, 0.0)), "Light.color must be non-negative"),
        (lambda: Light(shininess=0.0), "Light.shininess"),
        (lambda: Light(specular="shiny"), "Light.specular"),
        (lambda: vertex_visibility(TRI, rasterize(TRI, FACE, 4, 4), depth_tolerance="1"), "depth_tolerance"),
        (lambda: render_mesh(TRI, FACE, np.ones((3, 3)), height=4, width=4, supersample=True), "supersample"),
        (lambda: Light.random(np.random.default_rng(0), max_angle_deg=200.0), "max_angle_deg"),
        (lambda: icosphere(frequency=0), "frequency"),
    ],
)
def test_bad_inputs_raise_clear_errors(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


def test_overlay_bad_inputs() -> None:
    vertices, faces = plane()
    result = render_mesh(vertices, faces, np.full((4, 3), 0.5), height=12, width=12)
    with pytest.raises(ValueError, match="image must be an"):
        overlay(np.zeros((12, 12, 3), dtype=np.float32), result)
    with pytest.raises(ValueError, match="image size"):
        overlay(np.zeros((10, 12, 3), dtype=np.uint8), result)
    for alpha in (1.5, -0.1, None):
        with pytest.raises(ValueError, match="alpha must be"):
            overlay(np.zeros((12, 12, 3), dtype=np.uint8), result, alpha=alpha)
    with pytest.raises(ValueError, match="color must be"):
        overlay(np.zeros((12, 12, 3), dtype=np.uint8), result, color=(0.0, 2.0, 0.0))
