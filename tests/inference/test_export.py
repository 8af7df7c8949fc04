"""ONNX export: parity with eager PyTorch (batch 1 and 3 through one file), the ONNX backend, the CLI."""

from __future__ import annotations

import contextlib
import io
import json

import pytest
import torch
from inference_helpers import grace_hopper_path, load_rgb, make_checkpoint

pytest.importorskip("onnx", reason="the onnx extra is not installed")
pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")

import numpy as np  # noqa: E402

from trans3dhead.cli import main  # noqa: E402
from trans3dhead.inference import HeadAligner  # noqa: E402
from trans3dhead.inference.export import ONNX_OUTPUTS, export_onnx  # noqa: E402
from trans3dhead.inference.onnx_runtime import OnnxBackend, max_abs_differences  # noqa: E402
from trans3dhead.models.build import model_from_checkpoint  # noqa: E402


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """arch -> (checkpoint, model, file written by `trans3dhead export`, its stdout), built on first use."""
    cache = {}

    def get(arch: str):
        if arch not in cache:
            root = tmp_path_factory.mktemp(f"export_{arch}")
            checkpoint = make_checkpoint(root, overrides=(f"model.arch={arch}",))
            model, _, _ = model_from_checkpoint(checkpoint, device="cpu")
            path, stdout = root / "model.onnx", io.StringIO()
            with contextlib.redirect_stdout(stdout):
                code = main(
                    ["export", "--checkpoint", str(checkpoint), "--format", "onnx", "--out", str(path)]
                )
            assert code == 0
            cache[arch] = checkpoint, model, path, stdout.getvalue()
        return cache[arch]

    return get


@pytest.fixture(params=["trans3dhead", "dad3dnet"])
def exported(request, exports):
    return exports(request.param)


@pytest.mark.parametrize("batch", [1, 3])
def test_onnxruntime_matches_pytorch(exported, batch):
    _, model, path, _ = exported
    backend = OnnxBackend(path=path, providers=["CPUExecutionProvider"])
    crops = torch.rand(batch, 3, 64, 64, generator=torch.Generator().manual_seed(batch))
    diffs = max_abs_differences(model, backend, crops)
    assert set(diffs) == set(ONNX_OUTPUTS)
    assert max(diffs.values()) < 1e-4, diffs
    outputs = backend.run(crops.numpy())
    assert outputs["params"].shape == (batch, model.flame.layout.total)
    assert outputs["posed_vertices"].shape == (batch, model.flame.v_template.shape[0], 3)


def test_export_keeps_the_model_and_writes_metadata(exports):
    _, model, path, _ = exports("trans3dhead")
    assert not model.training
    backend = OnnxBackend(path=path)
    meta = backend.metadata
    assert meta["trans3dhead.input_size"] == "64"
    assert meta["trans3dhead.num_params"] == str(model.flame.layout.total)
    assert meta["trans3dhead.arch"] == type(model).__name__
    assert meta["trans3dhead.outputs"] == ",".join(ONNX_OUTPUTS)
    assert backend.input_size == 64


def test_onnx_backend_predictions_match_torch(exports):
    checkpoint, _, path, _ = exports("trans3dhead")
    image = load_rgb(grace_hopper_path())
    boxes = [[149.0, 70.0, 240.0, 300.0], [20.0, 20.0, 200.0, 200.0]]
    eager = HeadAligner.from_checkpoint(checkpoint, "cpu").predict(image, boxes)
    onnx = HeadAligner.from_checkpoint(checkpoint, "cpu", onnx=path).predict(image, boxes)
    for a, b in zip(eager, onnx, strict=True):
        np.testing.assert_allclose(a.landmarks, b.landmarks, atol=1e-3)
        np.testing.assert_allclose(a.vertices, b.vertices, atol=1e-3)
        np.testing.assert_allclose(a.params, b.params, atol=1e-4)
        np.testing.assert_allclose(a.euler, b.euler, atol=1e-3)


def test_onnx_backend_errors(exports, tmp_path):
    checkpoint, model, path, _ = exports("trans3dhead")
    with pytest.raises(FileNotFoundError, match="missing.onnx: ONNX file not found"):
        OnnxBackend(path=tmp_path / "missing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="junk.onnx: not a loadable ONNX model"):
        OnnxBackend(path=tmp_path / "junk.onnx")
    with pytest.raises(ValueError, match="optimization must be one of"):
        OnnxBackend(path=path, optimization="max")
    with pytest.raises(ValueError, match="threads must be a positive"):
        OnnxBackend(path=path, threads=0)
    with pytest.raises(ValueError, match="exported from another model"):
        OnnxBackend(path=path).check_compatible(num_params=999, num_vertices=40, input_size=64)
    with pytest.raises(ValueError, match=r"crops must have shape \(B, 3, 64, 64\)"):
        OnnxBackend(path=path)(torch.zeros(2, 3, 64))
    with pytest.raises(ValueError, match="opset must be an integer in"):
        export_onnx(model, tmp_path / "x.onnx", opset=9)


def test_export_cli(exports, tmp_path, capsys):
    checkpoint, _, path, printed = exports("trans3dhead")
    assert path.is_file() and "largest relative difference" in printed and "opset 17" in printed
    out = tmp_path / "cli.onnx"
    assert main(["export", "--checkpoint", str(tmp_path / "none.pt"), "--out", str(out)]) == 2
    assert "none.pt: checkpoint not found" in capsys.readouterr().err
    assert main(["export", "--checkpoint", str(checkpoint), "--out", str(out), "--opset", "5"]) == 2
    assert "opset must be an integer in [13, 20]" in capsys.readouterr().err
    assert not out.exists()


def test_predict_cli_with_the_onnx_backend(exports, tmp_path, monkeypatch):
    """--backend onnx without --onnx FILE exports the checkpoint to OUT/model.onnx first, then runs it."""
    import shutil

    import trans3dhead.inference.export as export_module

    checkpoint, _, path, _ = exports("trans3dhead")
    calls = []

    def fake_export(model, target, **kwargs):  # the real export is tested above; this saves its time
        calls.append(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        return shutil.copy(path, target)

    monkeypatch.setattr(export_module, "export_onnx", fake_export)
    out = tmp_path / "out"
    argv = ["predict", "--checkpoint", str(checkpoint), str(grace_hopper_path()), "--out", str(out)]
    assert main([*argv, "--backend", "onnx"]) == 0
    assert calls == [out / "model.onnx"]
    assert json.loads((out / "grace_hopper.json").read_text())["backend"] == "onnx"


def test_a_fixed_batch_export_runs_any_number_of_crops(exports, tmp_path, capsys):
    """`export --batch 1`: a graph with constant shapes; the backend feeds it one crop at a time."""
    checkpoint, model, dynamic_path, _ = exports("trans3dhead")
    path = tmp_path / "one.onnx"
    assert main(["export", "--checkpoint", str(checkpoint), "--out", str(path), "--batch", "1"]) == 0
    assert "input (1, 3, 64, 64)" in capsys.readouterr().out
    backend = OnnxBackend(path=path, providers=["CPUExecutionProvider"])
    assert backend.fixed_batch == 1 and backend.metadata["trans3dhead.batch"] == "1"
    assert OnnxBackend(path=dynamic_path).fixed_batch is None
    assert OnnxBackend(path=dynamic_path).metadata["trans3dhead.batch"] == "dynamic"
    crops = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(7))
    diffs = max_abs_differences(model, backend, crops)
    assert max(diffs.values()) < 1e-4, diffs
    two = tmp_path / "two.onnx"
    export_onnx(model, two, batch=2)  # 3 crops: one full chunk and one padded with a zero crop
    outputs = OnnxBackend(path=two).run(crops.numpy())
    assert outputs["params"].shape == (3, model.flame.layout.total)
    np.testing.assert_allclose(outputs["params"], backend.run(crops.numpy())["params"], atol=1e-5)
    assert backend.run(crops.numpy()[:0])["params"].shape == (0, model.flame.layout.total)
    zero = ["export", "--checkpoint", str(checkpoint), "--out", str(tmp_path / "z.onnx"), "--batch", "0"]
    assert main(zero) == 2
    assert "--batch must be a positive integer" in capsys.readouterr().err
