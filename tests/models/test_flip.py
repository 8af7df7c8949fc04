"""Flip test-time averaging (trans3dhead.models.flip): the mirror of the embedded head model, the mapping of
a mirrored view's parameters and landmarks back to the crop, the average, and the paths that use it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from trans3dhead.errors import InputError
from trans3dhead.flame.files import embedded_assets
from trans3dhead.flame.layer import FlameLayer
from trans3dhead.geometry.rotation import euler_to_matrix, matrix_to_euler, matrix_to_rotation_6d
from trans3dhead.models.flip import FlipAverage, FlipBackend, FlipMirror, average_with_mirrored, with_mirrored
from trans3dhead.types import HeadOutput

SIZE = 64
#: The 68-point (iBUG) scheme's left-right partners: jaw, brows, nose, eyes, outer and inner lips.
IBUG_MIRROR = [
    *range(16, -1, -1),
    *range(26, 16, -1),
    27, 28, 29, 30,
    35, 34, 33, 32, 31,
    45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40,
    54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55,
    64, 63, 62, 61, 60, 67, 66, 65,
]  # fmt: skip
FLIP = torch.diag(torch.tensor([-1.0, 1.0, 1.0]))


@pytest.fixture(scope="module")
def flame():
    return FlameLayer(assets=embedded_assets(), image_size=SIZE)


@pytest.fixture(scope="module")
def mirror(flame):
    return FlipMirror.from_flame(flame)


def _params(flame, seed=0, batch=3, yaw_deg=(10.0, -25.0, 40.0)):
    g = torch.Generator().manual_seed(seed)
    layout = flame.layout
    p = torch.zeros(batch, layout.total)
    p[:, layout.slices["shape"]] = torch.randn(batch, layout.num_shape, generator=g) * 0.5
    p[:, layout.slices["expression"]] = torch.randn(batch, layout.num_expression, generator=g) * 0.5
    p[:, layout.slices["jaw"]] = torch.tensor([0.2, 0.05, -0.03])
    angles = torch.tensor([[5.0, -8.0, y] for y in yaw_deg[:batch]])  # (roll, pitch, yaw) degrees
    p[:, layout.slices["rotation"]] = matrix_to_rotation_6d(euler_to_matrix(angles))
    p[:, layout.slices["translation"]] = torch.tensor([0.1, -0.05, 0.0])
    p[:, layout.slices["scale"]] = 0.1
    return p


def test_the_embedded_model_is_its_own_mirror_image(mirror, flame):
    perm = mirror.vertex_perm
    assert torch.equal(perm[perm], torch.arange(flame.v_template.shape[0]))
    assert (perm != torch.arange(len(perm))).sum() > len(perm) // 2  # most vertices have a partner
    template = flame.v_template
    assert torch.allclose(template[perm] * torch.tensor([-1.0, 1.0, 1.0]), template, atol=1e-6)
    assert mirror.landmark_perm.tolist() == IBUG_MIRROR
    assert 0 <= mirror.basis_residual < 0.05  # measured 0.022


def test_the_mapped_parameters_draw_the_mirror_image(flame, mirror):
    """What the network would predict for the mirrored crop, mapped back, draws the crop's head: pixel x
    of the mirrored crop is S - 1 - x here, and the left eye is the right one."""
    params = _params(flame)
    seen = flame(params)  # as seen in the mirrored crop
    back = flame(mirror.unmirror_params(params, flame.layout))
    expected = seen.landmarks_2d.clone()
    expected[..., 0] = SIZE - 1 - expected[..., 0]
    assert torch.allclose(back.landmarks_2d, expected[:, mirror.landmark_perm], atol=0.1)  # pixels
    dense = seen.projected.clone()
    dense[..., 0] = SIZE - 1 - dense[..., 0]
    assert torch.allclose(back.projected, dense[:, mirror.vertex_perm], atol=0.1)
    assert torch.allclose(back.rotation, FLIP @ seen.rotation @ FLIP, atol=1e-6)


def test_mirroring_twice_is_the_identity(flame, mirror):
    params = _params(flame)
    twice = mirror.unmirror_params(mirror.unmirror_params(params, flame.layout), flame.layout)
    assert torch.allclose(flame(twice).projected, flame(params).projected, atol=0.1)
    landmarks = torch.rand(2, 5, 68, 2)
    assert torch.equal(mirror.unmirror_landmarks(mirror.unmirror_landmarks(landmarks)), landmarks)


class _Mirrored(nn.Module):
    """A fake network: ``params`` / ``landmarks`` for crops whose left half is brighter, and for their
    mirror images ``mirrored_params`` / ``mirrored_landmarks``."""

    has_landmark_branch = True

    def __init__(self, flame, params, mirrored_params, landmarks, mirrored_landmarks):
        super().__init__()
        self.flame = flame
        self.table = (params, mirrored_params, landmarks, mirrored_landmarks)

    def forward(self, images):
        params, mirrored_params, landmarks, mirrored_landmarks = self.table
        flipped = images[:, :, :, : SIZE // 2].mean((1, 2, 3)) < images[:, :, :, SIZE // 2 :].mean((1, 2, 3))
        p = torch.where(flipped[:, None], mirrored_params.repeat(2, 1), params.repeat(2, 1))
        both = (mirrored_landmarks.repeat(2, 1, 1), landmarks.repeat(2, 1, 1))
        lmk = torch.where(flipped[:, None, None], *both)
        return HeadOutput(params=p, flame=self.flame(p), landmarks=lmk, landmark_layers=lmk[None])


def _crops(batch):
    crops = torch.zeros(batch, 3, SIZE, SIZE)
    crops[..., : SIZE // 2] = 0.8
    return crops


def test_a_network_that_sees_the_mirror_image_alike_keeps_its_prediction(flame, mirror):
    params = _params(flame)
    params[:, flame.layout.slices["shape"]] = 0.0  # coefficients map exactly only in the basis' span
    params[:, flame.layout.slices["expression"]] = 0.0
    landmarks = torch.rand(3, 68, 2)
    net = _Mirrored(flame, params, mirror.unmirror_params(params, flame.layout), landmarks,
                    mirror.unmirror_landmarks(landmarks))  # fmt: skip
    out = FlipAverage(model=net, mirror=mirror)(_crops(3))
    plain = flame(params)
    assert torch.allclose(out.params, params, atol=1e-6)
    assert torch.allclose(out.flame.landmarks_2d, plain.landmarks_2d, atol=1e-4)
    assert torch.allclose(out.landmarks, landmarks, atol=1e-6)
    assert out.landmark_layers.shape == (1, 3, 68, 2)


def test_the_average_of_two_views_is_halfway(flame, mirror):
    """Plain view: yaw 10 degrees, translation x 0.1; the mirrored view, mapped back, says yaw 30 and
    x 0.2: the average is yaw 20 and x 0.15; the landmarks likewise."""
    layout = flame.layout
    plain = _params(flame, batch=1, yaw_deg=(10.0,))
    other = _params(flame, batch=1, yaw_deg=(30.0,))
    other[:, layout.slices["translation"]] = torch.tensor([0.2, -0.05, 0.0])
    landmarks, other_landmarks = torch.full((1, 68, 2), 0.4), torch.full((1, 68, 2), 0.5)
    net = _Mirrored(flame, plain, mirror.unmirror_params(other, layout), landmarks,
                    mirror.unmirror_landmarks(other_landmarks))  # fmt: skip
    out = FlipAverage(model=net, mirror=mirror)(_crops(1))
    euler = matrix_to_euler(out.flame.rotation.double())[0]  # (roll, pitch, yaw) degrees
    assert torch.allclose(euler, torch.tensor([5.0, -8.0, 20.0], dtype=torch.float64), atol=1e-3)
    translation = out.params[0, layout.slices["translation"]]
    assert torch.allclose(translation, torch.tensor([0.15, -0.05, 0.0]), atol=1e-6)
    assert torch.allclose(out.landmarks, torch.full((1, 68, 2), 0.45), atol=1e-6)
    assert torch.allclose(torch.linalg.det(out.flame.rotation), torch.ones(1), atol=1e-6)


def test_the_backend_wrapper_gives_what_the_module_gives(flame, mirror):
    params, other = _params(flame, seed=1), _params(flame, seed=2, yaw_deg=(0.0, 12.0, -70.0))
    landmarks = torch.rand(3, 68, 2)
    net = _Mirrored(flame, params, other, landmarks, torch.rand(3, 68, 2)).eval()

    class Backend:
        input_size, name = SIZE, "fake"

        def __call__(self, crops):
            return net(crops)

    crops = _crops(3)
    from_backend = FlipBackend(backend=Backend(), flame=flame, mirror=mirror)(crops)
    from_module = FlipAverage(model=net, mirror=mirror)(crops)
    assert torch.allclose(from_backend.params, from_module.params)
    assert torch.allclose(from_backend.flame.projected, from_module.flame.projected)
    assert FlipBackend(backend=Backend(), flame=flame, mirror=mirror).name == "fake+flip"


def test_with_mirrored_stacks_the_crops_and_their_mirror_images():
    crops = torch.rand(2, 3, 4, 4)
    both = with_mirrored(crops)
    assert torch.equal(both[:2], crops) and torch.equal(both[2:, :, :, 0], crops[:, :, :, 3])


def test_an_odd_batch_is_refused(flame, mirror):
    params = _params(flame)
    out = HeadOutput(params=params, flame=flame(params), landmarks=torch.rand(3, 68, 2),
                     landmark_layers=torch.rand(1, 3, 68, 2))  # fmt: skip
    with pytest.raises(ValueError, match="even batch"):
        average_with_mirrored(out, flame=flame, mirror=mirror)


def test_an_asymmetric_head_model_is_refused_by_name(tiny_assets):
    message = r"tiny-model: flip averaging and data.flip need a left-right symmetric head model, but vertex"
    with pytest.raises(InputError, match=message):
        FlipMirror.from_flame(FlameLayer(assets=tiny_assets, image_size=SIZE), source="tiny-model")


def test_eval_and_predict_with_flip_on_the_shipped_model(tmp_path):
    """``trans3dhead eval --flip`` writes a report that names the averaging, and the predictor's flip option
    returns one head per box whose rotation is a rotation."""
    from trans3dhead.cli import main
    from trans3dhead.data.io import read_image
    from trans3dhead.data.synthetic import SceneOptions, generate_dataset
    from trans3dhead.demo import SHIPPED_MODEL
    from trans3dhead.inference import HeadAligner
    from trans3dhead.models.build import model_from_checkpoint

    _, _, assets = model_from_checkpoint(SHIPPED_MODEL)
    options = SceneOptions(size=128, focal_range=(2.0, 6.0))
    list(generate_dataset(tmp_path / "data", assets=assets, counts={"val": 4}, seed=3, options=options))
    outs = {}
    for flag in ([], ["--flip"]):
        out = tmp_path / ("flip" if flag else "plain")
        args = ["eval", "--checkpoint", str(SHIPPED_MODEL), "--data", str(tmp_path / "data")]
        assert main([*args, "--out", str(out), *flag]) == 0
        outs[bool(flag)] = json.loads((out / "metrics.json").read_text())
    assert "flip" in outs[True]["sources"] and "flip" not in outs[False]["sources"]
    assert outs[True]["results"]["pose_error"] != outs[False]["results"]["pose_error"]
    entry = json.loads((tmp_path / "data" / "val" / "val.json").read_text())[0]
    aligner = HeadAligner.from_checkpoint(SHIPPED_MODEL, "cpu", flip=True)
    assert aligner.backend.name == "torch+flip"
    (head,) = aligner.predict(read_image(tmp_path / "data" / entry["img_path"]), [entry["bbox"]])
    rotation = np.asarray(head.rotation)
    assert np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-5) and np.isclose(np.linalg.det(rotation), 1)


def test_the_predictor_refuses_flip_for_an_asymmetric_head_model(tmp_path):
    from inference_helpers import make_checkpoint

    from trans3dhead.inference import HeadAligner

    checkpoint = make_checkpoint(tmp_path)  # its FLAME-format model is random points: no mirror partners
    with pytest.raises(InputError, match=r"model\.npz: .*need a left-right symmetric"):
        HeadAligner.from_checkpoint(checkpoint, "cpu", flip=True)


def test_flip_averaging_over_onnx_runtime_matches_pytorch(tmp_path):
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    from inference_helpers import grace_hopper_path, load_rgb

    from trans3dhead.demo import SHIPPED_MODEL
    from trans3dhead.inference import HeadAligner
    from trans3dhead.inference.export import export_onnx
    from trans3dhead.models.build import model_from_checkpoint

    model, _, _ = model_from_checkpoint(SHIPPED_MODEL, device="cpu")
    path = export_onnx(model, tmp_path / "model.onnx")
    image, boxes = load_rgb(grace_hopper_path()), [[149.0, 70.0, 240.0, 300.0]]
    eager = HeadAligner.from_checkpoint(SHIPPED_MODEL, "cpu", flip=True)
    onnx = HeadAligner.from_checkpoint(SHIPPED_MODEL, "cpu", onnx=path, flip=True)
    assert onnx.backend.name == "onnx+flip"
    plain = HeadAligner.from_checkpoint(SHIPPED_MODEL, "cpu").predict(image, boxes)[0]
    (a,), (b,) = eager.predict(image, boxes), onnx.predict(image, boxes)
    np.testing.assert_allclose(a.params, b.params, atol=1e-3)
    np.testing.assert_allclose(a.landmarks, b.landmarks, atol=1e-2)
    np.testing.assert_allclose(a.rotation, b.rotation, atol=1e-4)
    assert np.abs(a.landmarks - plain.landmarks).max() > 1e-3  # the average is not the plain prediction


def test_points_without_mutual_mirror_partners_are_refused():
    """Two points share one mirror partner (both within the tolerance of its mirror image): the
    partners are not an involution, and the error names the point left without one."""
    from trans3dhead.models.flip import _mirror_partners

    points = np.array([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [-1.0 - 1e-7, 0.0, 0.0], [0.0, 1.0, 0.0]])
    message = r"pts: flip averaging and data.flip need mirror partners, but point 2"
    with pytest.raises(InputError, match=message):
        _mirror_partners(points, "point", 1e-3, "pts")
