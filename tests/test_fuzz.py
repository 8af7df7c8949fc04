"""Fuzzing every reader of user files (issue 14): a clear project error or a valid result, never another
exception, never a changed input file.  The harness, its budget (short here, long with ``make fuzz``) and
its mutations are in ``fuzz_harness.py``; each target below starts from a valid file.
"""

from __future__ import annotations

import json
import pickle
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from conftest import make_tiny_flame
from fuzz_harness import (
    REPORTED,
    dumps,
    fuzz,
    mutate_bytes,
    mutate_json_text,
    mutate_tree,
    never_raises,
    random_json,
)
from test_dataset import write_split
from train_helpers import TINY_MODEL

from trans3dhead.cli import main
from trans3dhead.config import config_to_dict, load_config
from trans3dhead.data.check import check_split
from trans3dhead.data.dad3dheads import DAD3DHeadsDataset
from trans3dhead.data.io import read_metadata
from trans3dhead.engine.checkpoint import checkpoint_config, load_checkpoint, save_checkpoint
from trans3dhead.engine.evaluate import load_gt_items
from trans3dhead.flame import FlameAssets, FlameAux, FlameModelData
from trans3dhead.flame.files import load_assets, write_aux_dir, write_model_npz
from trans3dhead.inference.boxes import load_boxes_file
from trans3dhead.inference.detector import BoxesDetector
from trans3dhead.metrics.benchmark import score_predictions
from trans3dhead.metrics.groundtruth import read_gt_file, write_gt_file
from trans3dhead.metrics.submission import read_submission
from trans3dhead.metrics.synthetic import perturbed_prediction, synthetic_gt_item
from trans3dhead.metrics.topology import BenchmarkTopology

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny():
    model_raw, aux_raw = make_tiny_flame()
    model = FlameModelData.from_arrays(model_raw, source="tiny")
    assets = FlameAssets(model=model, aux=FlameAux.from_raw(aux_raw, model=model, source="tiny"))
    return model_raw, aux_raw, assets


@pytest.fixture(scope="module")
def benchmark(tiny):
    _, _, assets = tiny
    topology = BenchmarkTopology.from_assets(assets)
    rng = np.random.default_rng(0)
    attributes = [{"pose": "front"}, {"pose": "sided", "quality": "hq"}]
    items = [
        synthetic_gt_item(assets.model.v_template, item_id=f"id{i}", rng=rng, attributes=attrs)
        for i, attrs in enumerate(attributes)
    ]
    predictions = {gt.item_id: perturbed_prediction(gt, topology, pixel_noise=1.0) for gt in items}
    return topology, items, predictions


# --- benchmark files: submission, GT, and the `score` command


def test_fuzz_submission(tmp_path, benchmark):
    topology, items, predictions = benchmark
    path = tmp_path / "submission.json"

    def example(rng: random.Random):
        path.write_bytes(mutate_json_text(rng, predictions))
        return lambda: score_predictions(items, read_submission(path), topology=topology)

    counts = fuzz("submission", example, inputs=lambda: [path])
    assert counts["examples"] > 0 and counts["errors"] > 0 and counts["results"] > 0


def test_fuzz_gt_file(tmp_path, benchmark):
    topology, items, predictions = benchmark
    valid = json.loads(write_gt_file(tmp_path / "valid.json", items).read_text())
    path = tmp_path / "gt.json"

    def example(rng: random.Random):
        path.write_bytes(mutate_json_text(rng, valid))
        return lambda: score_predictions(read_gt_file(path), predictions, topology=topology)

    counts = fuzz("gt_file", example, inputs=lambda: [path])
    assert counts["examples"] > 0 and counts["errors"] > 0


def test_fuzz_score_command(tmp_path, tiny, benchmark):
    model_raw, aux_raw, _ = tiny
    _, items, predictions = benchmark
    model = write_model_npz(model_raw, tmp_path / "model" / "model.npz")
    aux = write_aux_dir(aux_raw, tmp_path / "model" / "aux")
    valid_gt = json.loads(write_gt_file(tmp_path / "valid.json", items).read_text())
    gt, submission = tmp_path / "in" / "gt.json", tmp_path / "in" / "sub.json"
    gt.parent.mkdir()

    def example(rng: random.Random):
        mutate_gt = rng.random() < 0.3
        gt.write_bytes(mutate_json_text(rng, valid_gt) if mutate_gt else json.dumps(valid_gt).encode())
        submission.write_bytes(mutate_json_text(rng, predictions))
        argv = ["score", "--gt", str(gt), "--submission", str(submission), "--out", str(tmp_path / "out")]
        argv += ["--flame", str(model), "--aux", str(aux), "--per-item"]
        return lambda: _exit_code(main(argv), (0, 2))

    fuzz("score_command", example, inputs=lambda: [gt.parent, tmp_path / "model"])


def _exit_code(code: int, allowed: tuple[int, ...]) -> object:
    """A command's exit status, checked; status 2 (a one-line error was printed) counts as a clear error."""
    assert code in allowed, f"exit status {code}, expected one of {allowed}"
    return REPORTED if code == 2 else code


# --- dataset: index file, annotations, images; the reader, the GT builder and `data check`


def test_fuzz_dataset_readers(tmp_path, tiny):
    _, _, assets = tiny
    pristine = tmp_path / "pristine"
    write_split(pristine, "val", assets, items=3)
    index = json.loads((pristine / "val" / "val.json").read_text())
    annotation = json.loads((pristine / "val" / "annotations" / "val_001.json").read_text())
    root = tmp_path / "data"

    def example(rng: random.Random):
        shutil.rmtree(root, ignore_errors=True)
        shutil.copytree(pristine, root)
        kind = rng.random()
        if kind < 0.5:
            (root / "val" / "val.json").write_bytes(mutate_json_text(rng, index))
        elif kind < 0.8:
            (root / "val" / "annotations" / "val_001.json").write_bytes(mutate_json_text(rng, annotation))
        else:
            image = root / "val" / "images" / "val_002.png"
            image.write_bytes(mutate_bytes(rng, image.read_bytes()))
        return [
            lambda: _load_all(root, assets, skip_bad=False),
            lambda: _load_all(root, assets, skip_bad=True),
            lambda: load_gt_items(root, "val"),
            lambda: load_gt_items(root, "val", skip_bad=True),
            never_raises(lambda: check_split(root, "val"), "check_split"),
            lambda: _exit_code(main(["data", "check", str(root)]), (0, 1)),
        ]

    fuzz("dataset", example, inputs=lambda: [root])


def _load_all(root: Path, assets: FlameAssets, *, skip_bad: bool) -> list:
    read_metadata(root, "val", skip_bad=skip_bad)
    dataset = DAD3DHeadsDataset(root=root, split="val", assets=assets, input_size=32, skip_bad=skip_bad)
    return [dataset[i] for i in range(len(dataset))]


# --- FLAME model files (.npz, .pkl) and the auxiliary folder

_DTYPES = ("float32", "float64", "int64", "uint8", "bool", "complex64", "<U3", "object")


def random_array(rng: random.Random, like: np.ndarray | None = None) -> Any:
    shape = list(like.shape) if like is not None and rng.random() < 0.5 else []
    if not shape:
        shape = [rng.choice([0, 1, 2, 3, 17, 40, 51]) for _ in range(rng.randint(0, 3))]
    elif rng.random() < 0.5:
        axis = rng.randrange(len(shape))
        shape[axis] = rng.choice([0, 1, max(0, shape[axis] - 1), shape[axis] + 1])
    dtype = rng.choice(_DTYPES)
    numbers = np.random.default_rng(rng.randrange(2**32)).normal(size=shape) * rng.choice([1, 1e3, 1e40])
    if rng.random() < 0.2 and numbers.size:
        numbers.flat[0] = rng.choice([np.nan, np.inf, -1, 1e12])
    if dtype == "object":
        return np.array(numbers.tolist() if numbers.ndim else float(numbers), dtype=object)
    with np.errstate(all="ignore"):
        return numbers.astype(dtype)


def mutate_arrays(rng: random.Random, raw: dict[str, Any]) -> dict[str, Any]:
    """One structural change of a FLAME-style dict of arrays (nested dicts for the auxiliary data)."""
    raw = dict(raw)
    key = rng.choice(sorted(raw)) if raw else "x"
    value = raw.get(key)
    op = rng.randrange(6)
    if isinstance(value, dict) and op < 3:
        raw[key] = mutate_arrays(rng, value)
    elif op == 0:
        raw.pop(key, None)
    elif op in (1, 2):
        raw[key] = random_array(rng, np.asarray(value) if isinstance(value, np.ndarray) else None)
    elif op == 3:
        raw[key] = random_json(rng)
    elif op == 4 and isinstance(value, np.ndarray):
        raw[key] = value.T if rng.random() < 0.5 else value.reshape(-1)
    else:
        raw[str(random_json(rng))] = random_array(rng)
    return raw


def test_fuzz_flame_files(tmp_path, tiny):
    model_raw, aux_raw, _ = tiny
    folder = tmp_path / "flame"

    def example(rng: random.Random):
        shutil.rmtree(folder, ignore_errors=True)
        kind = rng.randrange(5)
        model = mutate_arrays(rng, model_raw) if kind == 0 else model_raw
        aux = mutate_arrays(rng, aux_raw) if kind == 1 else aux_raw
        path = _write_model(rng, model, folder)
        aux_dir = _write_aux(aux, folder / "aux")
        if kind == 2:
            path.write_bytes(mutate_bytes(rng, path.read_bytes()))
        elif kind >= 3:
            target = rng.choice(sorted(p for p in aux_dir.rglob("*") if p.is_file()))
            target.write_bytes(mutate_bytes(rng, target.read_bytes()))
        return lambda: _describe(path, aux_dir)

    fuzz("flame_files", example, inputs=lambda: [folder])


def _write_model(rng: random.Random, model: dict[str, Any], folder: Path) -> Path:
    if rng.random() < 0.5 and all(isinstance(v, np.ndarray) for v in model.values()):
        return write_model_npz(model, folder / "model.npz")
    path = folder / "model.pkl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(model, protocol=2))
    return path


def _write_aux(aux: dict[str, Any], folder: Path) -> Path:
    try:
        return write_aux_dir(aux, folder)
    except Exception:  # a mutated dict the release writer cannot lay out: write it raw
        shutil.rmtree(folder, ignore_errors=True)
        return _write_aux_raw(aux, folder)


def _write_aux_raw(aux: dict[str, Any], folder: Path) -> Path:
    """Whatever a mutated auxiliary dict holds, written as pickles under the release's file names."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "flame_static_embedding.pkl": aux.get("static_embedding"),
        "flame_dynamic_embedding.npy": aux.get("dynamic_embedding"),
    }
    for name, value in files.items():
        if value is not None:
            (folder / name).write_bytes(pickle.dumps(value, protocol=2))
    indices = aux.get("flame_indices")
    if isinstance(indices, dict):
        (folder / "flame_indices").mkdir(exist_ok=True)
        for stem, value in indices.items():
            if isinstance(stem, str) and stem.isidentifier():
                np.save(
                    folder / "flame_indices" / f"{stem}.npy",
                    np.asarray(value, dtype=object),
                    allow_pickle=True,
                )
    return folder


def _describe(model: Path, aux: Path) -> dict:
    assets = load_assets(model, aux)
    BenchmarkTopology.from_assets(assets)
    return assets.describe()


# --- configs and key=value overrides

_KEYS = [
    "model.backbone",
    "model.input_size",
    "model.d_model",
    "model.nhead",
    "model.qamem",
    "model.dropout",
    "data.batch_size",
    "data.rotate_deg",
    "train.epochs",
    "train.lr",
    "train.milestones",
    "train.amp",
    "loss.weights",
    "loss.weights.euler",
    "flame.num_shape",
    "model",
    "model.",
    ".x",
    "a.b.c",
    "model.backbone.x",
    "base",
]
_VALUES = [
    "[1, 2",
    "{a: 1, a: 2}",
    "!!python/object/apply:os.system ['echo no']",
    "&a [*a]",
    "1e999",
    "-.inf",
    ".nan",
    "0x10",
    "~",
    "'''",
    "yes",
    "3e-4",
    "\t",
    "- - -",
    "{x: [}",
    "ééé",
]


def random_override(rng: random.Random) -> str:
    key = rng.choice(_KEYS) if rng.random() < 0.9 else str(random_json(rng))
    value = rng.choice(_VALUES) if rng.random() < 0.5 else json.dumps(random_json(rng))
    return rng.choice([f"{key}={value}", f"{key}{value}", f"={value}", f"{key}= {value}"])


def test_fuzz_config(tmp_path):
    source = REPO / "configs" / "cpu" / "trans3dhead_r18_128.yaml"
    valid = yaml.safe_load(source.read_text())
    path = tmp_path / "config.yaml"

    def example(rng: random.Random):
        kind = rng.random()
        if kind < 0.4:
            value = json.loads(json.dumps(valid))
            for _ in range(rng.randint(1, 3)):
                value = mutate_tree(rng, value)
            path.write_text(_yaml_text(rng, value))
        elif kind < 0.7:
            path.write_bytes(mutate_bytes(rng, source.read_bytes()))
        else:
            path.write_bytes(source.read_bytes())
        overrides = [
            random_override(rng) for _ in range(rng.randint(0, 3) if kind < 0.7 else rng.randint(1, 3))
        ]
        return lambda: load_config(path, overrides)

    fuzz("config", example, inputs=lambda: [path])


def _yaml_text(rng: random.Random, value: Any) -> str:
    """Block YAML when PyYAML can write the value, else JSON (a YAML subset that can repeat keys)."""
    if rng.random() < 0.5:
        try:
            return yaml.safe_dump(value)
        except yaml.YAMLError:
            pass
    return dumps(value)


# --- --boxes files


def test_fuzz_boxes_file(tmp_path):
    valid = {"a.png": [[10, 20, 30, 40]], "sub/b.jpg": [[0, 0, 5, 5], [1.5, 2, 3, 4]], "c.png": []}
    path = tmp_path / "boxes.json"
    image = np.zeros((48, 64, 3), np.uint8)

    def example(rng: random.Random):
        path.write_bytes(mutate_json_text(rng, valid))

        def read():
            detector = BoxesDetector(table=load_boxes_file(path))
            return [detector.detect(image, names=(name,)) for name in detector.table]

        return read

    fuzz("boxes_file", example, inputs=lambda: [path])


# --- checkpoints


def test_fuzz_checkpoint(tmp_path):
    config = config_to_dict(load_config(None, TINY_MODEL))
    weights = {"w": torch.randn(4, 3), "b": torch.zeros(4), "steps": torch.tensor(3)}
    valid = save_checkpoint(
        tmp_path / "valid.pt", {"model": weights, "config": config, "epoch": 1, "step": 2}
    )
    path = tmp_path / "ckpt.pt"

    def example(rng: random.Random):
        if rng.random() < 0.5:
            path.write_bytes(mutate_bytes(rng, valid.read_bytes()))
        else:
            payload: dict[str, Any] = {"model": dict(weights), "config": json.loads(json.dumps(config))}
            for _ in range(rng.randint(1, 3)):
                payload = mutate_tree(rng, payload) if rng.random() < 0.7 else mutate_arrays(rng, payload)
            torch.save(_torch_safe(payload), path)

        def read():
            data = load_checkpoint(path)
            return load_config_dict(checkpoint_config(data, path))

        return read

    fuzz("checkpoint", example, inputs=lambda: [path])


def _torch_safe(value: Any) -> Any:
    """numpy arrays and Dup markers as values ``torch.load(weights_only=True)`` accepts or refuses cleanly."""
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value) if value.dtype.kind in "fiub" else value.tolist()
    if isinstance(value, dict):
        return {k: _torch_safe(v) for k, v in value.items() if k != "__dup__"}
    if isinstance(value, list):
        return [_torch_safe(v) for v in value]
    return value


def load_config_dict(data: dict) -> Any:
    from trans3dhead.config import config_from_dict

    return config_from_dict(data, source="checkpoint")
