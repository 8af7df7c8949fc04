"""Fuzzing every reader of user files (issue 14): a clear project error or a valid result, never another
exception, never a changed input file.  The harness, the hypothesis profiles (short here, ten minutes with
``make fuzz``) and the mutations are in ``fuzz_harness.py``; each target below starts from valid files,
and checks that what a reader accepts is usable (finite targets, finite metrics, finite model arrays).
"""

from __future__ import annotations

import json
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from dataset_files import write_split
from fuzz_harness import (
    REPORTED,
    chance,
    dumps,
    fuzz,
    index,
    json_values,
    mutate_tree,
    mutated_bytes,
    mutated_json,
    mutated_values,
    never_raises,
    scalars,
)
from gt_samples import perturbed_prediction, synthetic_gt_item
from hypothesis import strategies as st
from tiny_flame import make_tiny_flame
from train_helpers import TINY_MODEL

from trans3dhead.checkpoint import FORMAT_VERSION, slim_checkpoint
from trans3dhead.cli import main
from trans3dhead.config import config_from_dict, config_to_dict, load_config
from trans3dhead.data.check import check_split
from trans3dhead.data.dad3dheads import DAD3DHeadsDataset
from trans3dhead.data.io import read_metadata
from trans3dhead.engine.checkpoint import checkpoint_config, load_checkpoint, save_checkpoint
from trans3dhead.engine.evaluate import load_gt_items
from trans3dhead.flame import FlameAssets, FlameAux, FlameModelData
from trans3dhead.flame.files import load_assets, write_aux_dir, write_model_npz
from trans3dhead.inference.boxes import load_boxes_file
from trans3dhead.inference.detector import BoxesDetector
from trans3dhead.metrics.benchmark import BenchmarkResult, score_predictions
from trans3dhead.metrics.groundtruth import GtItem, read_gt_file, write_gt_file
from trans3dhead.metrics.nme import bbox_normaliser
from trans3dhead.metrics.submission import read_submission
from trans3dhead.metrics.topology import BenchmarkTopology

REPO = Path(__file__).resolve().parents[2]


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


# --- what a valid result is


def valid_score(result: BenchmarkResult) -> BenchmarkResult:
    """Every metric value a score reports is finite (a value that cannot be is a reported problem)."""
    for item in result.items:
        assert all(np.isfinite(v) for v in item.values.values()), f"non-finite metric of {item.item_id!r}"
    for key, summary in result.overall.items():
        assert summary.mean is None or np.isfinite(summary.mean), f"non-finite mean {key}"
    return result


def valid_gt(items: list[GtItem], topology: BenchmarkTopology) -> list[GtItem]:
    """GT items accepted by a reader give finite scoring targets: landmarks, pixels, camera vertices, and
    a positive finite NME normaliser (an infinite one scores every prediction 0)."""
    for gt in items:
        assert 0 < bbox_normaliser(gt.bbox) < np.inf, f"GT item {gt.item_id!r}: NME normaliser out of range"
        for name, values in (
            ("landmarks", gt.project(topology.landmarks(gt.vertices))),
            ("vertex pixels", gt.project(gt.vertices)),
            ("camera vertices", gt.camera_vertices()),
        ):
            assert np.isfinite(values).all(), f"GT item {gt.item_id!r}: non-finite {name}"
    return items


def finite_arrays(value: Any, where: str) -> None:
    """Every float array (numpy or torch) inside ``value`` (a dataclass, dict or list) is finite."""
    if isinstance(value, torch.Tensor):
        value = value.numpy()
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f":
            assert np.isfinite(value).all(), f"{where}: non-finite values"
        return
    children = vars(value).items() if hasattr(value, "__dataclass_fields__") else ()
    if isinstance(value, dict):
        children = value.items()
    elif isinstance(value, list | tuple):
        children = enumerate(value)
    for key, child in children:
        finite_arrays(child, f"{where}.{key}")


# --- benchmark files: submission, GT, and the `score` command


def test_fuzz_submission(tmp_path, benchmark):
    topology, items, predictions = benchmark
    path = tmp_path / "submission.json"

    def example(data: bytes):
        path.write_bytes(data)
        return lambda: valid_score(score_predictions(items, read_submission(path), topology=topology))

    counts = fuzz("submission", mutated_json(predictions), example, inputs=lambda: [path])
    assert counts["examples"] > 0 and counts["errors"] > 0 and counts["results"] > 0


def test_fuzz_gt_file(tmp_path, benchmark):
    topology, items, predictions = benchmark
    valid = json.loads(write_gt_file(tmp_path / "valid.json", items).read_text())
    path = tmp_path / "gt.json"

    def example(data: bytes):
        path.write_bytes(data)

        def read():
            gt = valid_gt(read_gt_file(path), topology)
            return valid_score(score_predictions(gt, predictions, topology=topology))

        return read

    counts = fuzz("gt_file", mutated_json(valid), example, inputs=lambda: [path])
    assert counts["examples"] > 0 and counts["errors"] > 0


def test_fuzz_score_command(tmp_path, tiny, benchmark):
    model_raw, aux_raw, _ = tiny
    _, items, predictions = benchmark
    model = write_model_npz(model_raw, tmp_path / "model" / "model.npz")
    aux = write_aux_dir(aux_raw, tmp_path / "model" / "aux")
    valid_gt_entries = json.loads(write_gt_file(tmp_path / "valid.json", items).read_text())
    gt, submission = tmp_path / "in" / "gt.json", tmp_path / "in" / "sub.json"
    gt.parent.mkdir()
    valid_gt_file = json.dumps(valid_gt_entries).encode()
    cases = st.tuples(
        st.one_of(st.just(valid_gt_file), mutated_json(valid_gt_entries)), mutated_json(predictions)
    )

    def example(case: tuple[bytes, bytes]):
        gt.write_bytes(case[0])
        submission.write_bytes(case[1])
        argv = ["score", "--gt", str(gt), "--submission", str(submission), "--out", str(tmp_path / "out")]
        argv += ["--flame", str(model), "--aux", str(aux), "--per-item"]
        return lambda: _exit_code(lambda: main(argv), (0, 2))

    fuzz("score_command", cases, example, inputs=lambda: [gt.parent, tmp_path / "model"])


def _exit_code(command: Callable[[], int], allowed: tuple[int, ...]) -> object:
    """A command's exit status, checked; status 2 (a one-line error was printed, by the command or by
    argparse) counts as a clear error."""
    try:
        code = command()
    except SystemExit as exc:  # argparse refused an argument
        code = exc.code
    assert code in allowed, f"exit status {code}, expected one of {allowed}"
    return REPORTED if code == 2 else code


# --- dataset: index file, annotations, images; the reader, the GT builder and `data check`


def test_fuzz_dataset_readers(tmp_path, tiny):
    _, _, assets = tiny
    pristine = tmp_path / "pristine"
    write_split(pristine, "val", assets, items=3)
    index_file, annotation, image = "val/val.json", "val/annotations/val_001.json", "val/images/val_002.png"
    cases = st.one_of(
        st.tuples(st.just(index_file), mutated_json(json.loads((pristine / index_file).read_text()))),
        st.tuples(st.just(annotation), mutated_json(json.loads((pristine / annotation).read_text()))),
        st.tuples(st.just(image), mutated_bytes((pristine / image).read_bytes())),
    )
    root = tmp_path / "data"

    def example(case: tuple[str, bytes]):
        shutil.rmtree(root, ignore_errors=True)
        shutil.copytree(pristine, root)
        (root / case[0]).write_bytes(case[1])
        return [
            lambda: _load_all(root, assets, skip_bad=False),
            lambda: _load_all(root, assets, skip_bad=True),
            lambda: _gt_items(root, skip_bad=False),
            lambda: _gt_items(root, skip_bad=True),
            never_raises(lambda: check_split(root, "val"), "check_split"),
            lambda: _exit_code(lambda: main(["data", "check", str(root)]), (0, 1)),
        ]

    fuzz("dataset", cases, example, inputs=lambda: [root])


def _load_all(root: Path, assets: FlameAssets, *, skip_bad: bool) -> list:
    read_metadata(root, "val", skip_bad=skip_bad)
    dataset = DAD3DHeadsDataset(root=root, split="val", assets=assets, input_size=32, skip_bad=skip_bad)
    samples = [dataset[i] for i in range(len(dataset))]
    finite_arrays([s for s in samples if s is not None], "samples")
    return samples


def _gt_items(root: Path, *, skip_bad: bool) -> list[GtItem]:
    _, items = load_gt_items(root, "val", skip_bad=skip_bad)
    for gt in items:
        assert np.isfinite(gt.project(gt.vertices)).all(), f"GT item {gt.item_id!r}: non-finite pixels"
    return items


# --- FLAME model files (.npz, .pkl) and the auxiliary folder

_DTYPES = ("float32", "float64", "int64", "uint8", "bool", "complex64", "<U3", "object")


def random_array(draw: Callable, like: np.ndarray | None = None) -> Any:
    """An array of a random dtype and shape (or ``like``'s shape, maybe one axis off); normal numbers at
    a random scale, sometimes with one NaN / infinity / negative / huge value."""
    shape = list(like.shape) if like is not None and chance(draw, 5) else []
    if not shape:
        shape = draw(st.lists(st.sampled_from([0, 1, 2, 3, 17, 40, 51]), max_size=3))
    elif chance(draw, 5):
        axis = index(draw, len(shape))
        shape[axis] = draw(st.sampled_from([0, 1, max(0, shape[axis] - 1), shape[axis] + 1]))
    dtype = draw(st.sampled_from(_DTYPES))
    numbers = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).normal(size=shape)
    numbers *= draw(st.sampled_from([1, 1e3, 1e40]))
    if chance(draw, 2) and numbers.size:
        numbers.flat[0] = draw(st.sampled_from([np.nan, np.inf, -1, 1e12]))
    if dtype == "object":
        return np.array(numbers.tolist() if numbers.ndim else float(numbers), dtype=object)
    with np.errstate(all="ignore"):
        return numbers.astype(dtype)


def mutate_arrays(draw: Callable, raw: dict[str, Any]) -> dict[str, Any]:
    """One structural change of a FLAME-style dict of arrays (nested dicts for the auxiliary data)."""
    raw = dict(raw)
    key = draw(st.sampled_from(sorted(raw))) if raw else "x"
    value = raw.get(key)
    op = draw(st.integers(0, 7))
    if isinstance(value, dict) and op < 3:
        raw[key] = mutate_arrays(draw, value)
    elif op == 0:
        raw.pop(key, None)
    elif op in (1, 2):
        raw[key] = random_array(draw, np.asarray(value) if isinstance(value, np.ndarray) else None)
    elif op == 3:
        raw[key] = draw(json_values)
    elif op == 4 and isinstance(value, np.ndarray):
        raw[key] = value.T if chance(draw, 5) else value.reshape(-1)
    elif op == 6 and isinstance(value, np.ndarray) and value.dtype.kind in "fiu":  # right shape, bad values
        raw[key] = value * draw(st.sampled_from([0, -1, 1e40, 2**40, np.nan]))
    elif op == 7 and isinstance(value, np.ndarray) and value.size:  # one entry poisoned
        poisoned = value.astype(np.float64)
        poisoned.flat[index(draw, value.size)] = draw(st.sampled_from([np.nan, np.inf, 1e39, -1.0, 1e12]))
        raw[key] = poisoned
    else:
        raw[str(draw(scalars))] = random_array(draw)
    return raw


@st.composite
def mutated_arrays(draw: Callable, raw: dict[str, Any]) -> dict[str, Any]:
    return mutate_arrays(draw, raw)


def test_fuzz_flame_files(tmp_path, tiny):
    model_raw, aux_raw, _ = tiny
    pristine = tmp_path / "pristine"
    write_model_npz(model_raw, pristine / "model.npz")
    (pristine / "model.pkl").write_bytes(pickle.dumps(model_raw, protocol=2))
    write_aux_dir(aux_raw, pristine / "aux")
    files = {str(p.relative_to(pristine)): p.read_bytes() for p in sorted(pristine.rglob("*")) if p.is_file()}
    cases = st.one_of(  # (model dict, aux dict, model format, (one file, its new bytes) or None)
        st.tuples(mutated_arrays(model_raw), st.just(aux_raw), st.sampled_from(["npz", "pkl"]), st.none()),
        st.tuples(st.just(model_raw), mutated_arrays(aux_raw), st.sampled_from(["npz", "pkl"]), st.none()),
        st.sampled_from(sorted(files)).flatmap(
            lambda name: st.tuples(
                st.just(model_raw),
                st.just(aux_raw),
                st.just("pkl" if name == "model.pkl" else "npz"),
                st.tuples(st.just(name), mutated_bytes(files[name])),
            )
        ),
    )
    folder = tmp_path / "flame"

    def example(case: tuple):
        model, aux, kind, changed = case
        shutil.rmtree(folder, ignore_errors=True)
        path = _write_model(model, folder, kind)
        aux_dir = _write_aux(aux, folder / "aux")
        if changed is not None:
            (folder / changed[0]).write_bytes(changed[1])
        return lambda: _describe(path, aux_dir)

    fuzz("flame_files", cases, example, inputs=lambda: [folder])


def _write_model(model: dict[str, Any], folder: Path, kind: str) -> Path:
    if kind == "npz" and all(isinstance(v, np.ndarray) for v in model.values()):
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
    finite_arrays(assets.model, "model")
    finite_arrays(assets.aux, "aux")
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
    "1" + "0" * 5000,
]

overrides = st.builds(
    lambda key, value, form: form.format(key=key, value=value),
    st.sampled_from(_KEYS) | json_values.map(str),
    st.sampled_from(_VALUES) | json_values.map(dumps) | st.text(max_size=8),
    st.sampled_from(["{key}={value}", "{key}{value}", "={value}", "{key}= {value}"]),
)


def test_fuzz_config(tmp_path):
    source = REPO / "configs" / "cpu" / "trans3dhead_r18_128.yaml"
    valid = yaml.safe_load(source.read_text())
    cases = st.one_of(  # (file text, overrides): a mutated file with 0-3 overrides, the valid one with 1-3
        st.tuples(
            st.tuples(mutated_values(valid), st.booleans()).map(lambda c: _yaml_text(*c)),
            st.lists(overrides, max_size=3),
        ),
        st.tuples(mutated_bytes(source.read_bytes()), st.lists(overrides, max_size=3)),
        st.tuples(st.just(source.read_bytes()), st.lists(overrides, min_size=1, max_size=3)),
    )
    path = tmp_path / "config.yaml"

    def example(case: tuple[bytes, list[str]]):
        path.write_bytes(case[0])
        return lambda: load_config(path, case[1])

    fuzz("config", cases, example, inputs=lambda: [path])


def _yaml_text(value: Any, block: bool) -> bytes:
    """Block YAML when PyYAML can write the value, else JSON (a YAML subset that can repeat keys)."""
    if block:
        try:
            return yaml.safe_dump(value).encode()
        except yaml.YAMLError:
            pass
    return dumps(value).encode()


# --- --boxes files


def test_fuzz_boxes_file(tmp_path):
    valid = {"a.png": [[10, 20, 30, 40]], "sub/b.jpg": [[0, 0, 5, 5], [1.5, 2, 3, 4]], "c.png": []}
    path = tmp_path / "boxes.json"
    image = np.zeros((48, 64, 3), np.uint8)

    def example(data: bytes):
        path.write_bytes(data)

        def read():
            detector = BoxesDetector(table=load_boxes_file(path))
            return [detector.detect(image, names=(name,)) for name in detector.table]

        return read

    fuzz("boxes_file", mutated_json(valid), example, inputs=lambda: [path])


# --- checkpoints


@st.composite
def checkpoint_payloads(draw: Callable, weights: dict[str, torch.Tensor], config: dict) -> dict[str, Any]:
    """A checkpoint dict as save_checkpoint writes it (format version included, so that the changes reach
    the config and weight checks rather than stopping at the format check) after 1-3 changes of its
    structure (JSON-like) or of its arrays; a moving-average run's live weights ("train_model") too."""
    payload: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "model": dict(weights),
        "train_model": dict(weights),
        "ema_updates": 2,
        "config": json.loads(json.dumps(config)),
        "epoch": 1,
        "step": 2,
    }
    for _ in range(draw(st.integers(1, 3))):
        payload = mutate_tree(draw, payload) if chance(draw, 7) else mutate_arrays(draw, payload)
    return _torch_safe(payload)


def test_fuzz_checkpoint(tmp_path):
    config = config_to_dict(load_config(None, TINY_MODEL))
    weights = {"w": torch.randn(4, 3), "b": torch.zeros(4), "steps": torch.tensor(3)}
    valid = save_checkpoint(
        tmp_path / "valid.pt",
        {"model": weights, "train_model": weights, "ema_updates": 2, "config": config, "epoch": 1, "step": 2},
    )
    cases = st.one_of(mutated_bytes(valid.read_bytes()), checkpoint_payloads(weights, config))
    path = tmp_path / "ckpt.pt"

    def example(case: bytes | dict):
        if isinstance(case, bytes):
            path.write_bytes(case)
        else:
            torch.save(case, path)
        def read():
            config_from_dict(checkpoint_config(load_checkpoint(path), path), source="checkpoint")
            slim = tmp_path / "slim.pt"
            slim.unlink(missing_ok=True)
            return slim_checkpoint(path, slim, live=True)  # reads the live weights too

        return read

    fuzz("checkpoint", cases, example, inputs=lambda: [path])


def _torch_safe(value: Any) -> Any:
    """numpy arrays and Dup markers as values ``torch.load(weights_only=True)`` accepts or refuses cleanly."""
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value) if value.dtype.kind in "fiub" else value.tolist()
    if isinstance(value, dict):
        return {k: _torch_safe(v) for k, v in value.items() if k != "__dup__"}
    if isinstance(value, list):
        return [_torch_safe(v) for v in value]
    return value
