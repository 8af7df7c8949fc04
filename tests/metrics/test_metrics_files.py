"""Benchmark files: GT file, GT builder, submission, reports and the `score` / `make-gt` commands."""

from __future__ import annotations

import json

import numpy as np
import pytest
from gt_samples import perturbed_prediction, synthetic_gt_item
from PIL import Image

from trans3dhead.cli import main
from trans3dhead.data.io import image_size
from trans3dhead.flame.files import write_aux_dir, write_model_npz
from trans3dhead.metrics.benchmark import score_predictions
from trans3dhead.metrics.groundtruth import read_gt_file, write_gt_file
from trans3dhead.metrics.gt_builder import build_gt_entries
from trans3dhead.metrics.report import write_report
from trans3dhead.metrics.submission import read_submission, write_submission
from trans3dhead.metrics.topology import BenchmarkTopology


@pytest.fixture
def topology(tiny_assets):
    return BenchmarkTopology.from_assets(tiny_assets)


@pytest.fixture
def items(tiny_assets):
    rng = np.random.default_rng(0)
    attributes = [{"pose": "front", "expression": True}, {"pose": "atypical", "expression": False}, {}]
    return [
        synthetic_gt_item(tiny_assets.model.v_template, item_id=f"id{i}", rng=rng, attributes=attrs)
        for i, attrs in enumerate(attributes)
    ]


@pytest.fixture
def model_files(tmp_path, tiny_raw):
    model_raw, aux_raw = tiny_raw
    return write_model_npz(model_raw, tmp_path / "model.npz"), write_aux_dir(aux_raw, tmp_path / "aux")


def test_gt_file_round_trip(tmp_path, items):
    path = write_gt_file(tmp_path / "gt.json", items)
    back = read_gt_file(path)
    assert [b.item_id for b in back] == ["id0", "id1", "id2"]
    for a, b in zip(items, back, strict=True):
        assert np.array_equal(a.vertices, b.vertices) and np.array_equal(a.model_view, b.model_view)
        assert np.array_equal(a.projection, b.projection) and np.array_equal(a.bbox, b.bbox)
    assert back[0].attributes == {"pose": "front", "expression": "true"}
    assert "attributes" not in json.loads(path.read_text())[2]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda e: e[0].pop("vertices"), r"entry 0: missing field\(s\) \['vertices'\]"),
        (lambda e: e[1].update(bbox=[0, 0, 0, 5]), "entry 1 \\(id 'id1'\\): 'bbox' width and height"),
        (lambda e: e[1]["vertices"][3].__setitem__(0, float("nan")), "'vertices' has non-finite values"),
        (
            lambda e: e[0].update(model_view_matrix=[[1, 0], [0, 1]]),
            r"'model_view_matrix' has shape \(2, 2\)",
        ),
        (lambda e: e[2].update(id="id0"), "entry 2: duplicate id 'id0'"),
        (lambda e: e[0].update(image_height="480"), "'image_height' must be a positive number"),
        (lambda e: e[0].update(attributes=["pose"]), "'attributes' must be a JSON object"),
        (lambda e: e[0].update(id=7), "'id' must be a non-empty string"),
    ],
)
def test_bad_gt_file_names_file_entry_and_field(tmp_path, items, mutate, message):
    entries = [item.to_entry() for item in items]
    mutate(entries)
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(entries))
    with pytest.raises(ValueError, match=message) as info:
        read_gt_file(path)
    assert str(path) in str(info.value)


def test_gt_file_not_json_or_not_a_list(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match=f"GT file {bad}: not valid JSON"):
        read_gt_file(bad)
    bad.write_text("{}")
    with pytest.raises(ValueError, match="expected a JSON list of entries"):
        read_gt_file(bad)
    with pytest.raises(FileNotFoundError, match="GT file .*missing.json: file not found"):
        read_gt_file(tmp_path / "missing.json")


def make_dataset(root, items, split="val", image_format="png"):
    """A DAD-3DHeads-format split holding ``items`` (images are tiny blank files of the right height)."""
    split_dir = root / split
    (split_dir / "annotations").mkdir(parents=True)
    (split_dir / "images").mkdir()
    metadata = []
    for item in items:
        annotation = {
            "vertices": item.vertices.tolist(),
            "model_view_matrix": item.model_view.tolist(),
            "projection_matrix": item.projection.tolist(),
        }
        (split_dir / "annotations" / f"{item.item_id}.json").write_text(json.dumps(annotation))
        image_name = f"{item.item_id}.{image_format}"
        Image.new("RGB", (9, int(item.image_height))).save(split_dir / "images" / image_name)
        metadata.append(
            {
                "item_id": item.item_id,
                "annotation_path": f"{split}/annotations/{item.item_id}.json",
                "img_path": f"{split}/images/{image_name}",
                "bbox": item.bbox.tolist(),
                "attributes": item.attributes,
            }
        )
    (split_dir / f"{split}.json").write_text(json.dumps(metadata))
    return split_dir


def test_build_gt_entries_from_a_split(tmp_path, items):
    split_dir = make_dataset(tmp_path, items)
    entries = build_gt_entries(split_dir)
    assert [e["id"] for e in entries] == ["id0", "id1", "id2"]
    assert [e["image_height"] for e in entries] == [480, 480, 480]
    assert entries[0]["attributes"] == {"pose": "front", "expression": "true"}
    assert "attributes" not in entries[2]  # empty attributes are left out, like the val split's
    assert "attributes" not in build_gt_entries(split_dir, with_attributes=False)[0]
    back = read_gt_file(write_gt_file(tmp_path / "gt.json", entries))
    assert np.array_equal(back[1].vertices, items[1].vertices)


def test_image_size_reads_headers(tmp_path):
    Image.new("L", (13, 7)).save(tmp_path / "a.png")
    Image.new("RGB", (5, 11)).save(tmp_path / "b.jpg")
    assert image_size(tmp_path / "a.png") == (7, 13)  # (height, width)
    assert image_size(tmp_path / "b.jpg") == (11, 5)
    (tmp_path / "c.png").write_bytes(b"not an image at all")
    with pytest.raises(ValueError, match="c.png: not a readable image file"):
        image_size(tmp_path / "c.png")


def test_build_gt_reports_missing_annotation(tmp_path, items):
    split_dir = make_dataset(tmp_path, items[:1])
    (split_dir / "annotations" / "id0.json").unlink()
    with pytest.raises(FileNotFoundError, match="annotation of item 'id0' not found"):
        build_gt_entries(split_dir)
    with pytest.raises(FileNotFoundError, match="metadata .*test.json: file not found"):
        build_gt_entries(split_dir, split="test")


def test_submission_round_trip_keeps_float32_values(tmp_path, items, topology):
    predictions = {gt.item_id: perturbed_prediction(gt, topology, pixel_noise=1.0) for gt in items}
    predictions["id1"]["68_landmarks_2d"][0][0] = float("nan")
    path = write_submission(tmp_path / "sub.json", predictions)
    in_memory = score_predictions(items, predictions, topology=topology)
    from_file = score_predictions(items, read_submission(path), topology=topology)
    assert [i.values for i in in_memory.items] == [i.values for i in from_file.items]
    assert [p.to_dict() for p in in_memory.problems] == [p.to_dict() for p in from_file.problems]


def test_read_submission_errors(tmp_path):
    path = tmp_path / "sub.json"
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match=f"submission {path}: expected a JSON object"):
        read_submission(path)
    with pytest.raises(IsADirectoryError, match="is a directory"):
        read_submission(tmp_path)


def test_write_report(tmp_path, items, topology):
    predictions = {gt.item_id: perturbed_prediction(gt, topology) for gt in items[1:]}
    result = score_predictions(items, predictions, topology=topology)
    json_path, md_path = write_report(result, tmp_path / "out", sources={"gt": "gt.json"}, per_item=True)
    report = json.loads(json_path.read_text())
    assert report["results"]["z5_accuracy"] == 1.0
    assert report["overall"]["nme_reprojection"]["scored"] == 2
    assert [(r["attribute"], r["value"], r["count"]) for r in report["attributes"]] == [
        ("pose", "atypical", 1),
        ("pose", "front", 1),
        ("expression", "false", 1),
        ("expression", "true", 1),
    ]
    assert report["attributes"][1]["metrics"]["nme_reprojection"]["mean"] is None  # id0 is missing
    assert report["problems"]["list"][0]["item_id"] == "id0"
    assert [row["id"] for row in report["per_item"]] == ["id0", "id1", "id2"]
    text = md_path.read_text()
    assert "## Missing / invalid predictions (1)" in text and "| id0 | * | missing_prediction |" in text


def test_cli_score_writes_reports(tmp_path, items, topology, model_files, capsys):
    gt_path = write_gt_file(tmp_path / "gt.json", items)
    predictions = {gt.item_id: perturbed_prediction(gt, topology, pixel_noise=2.0) for gt in items}
    sub_path = write_submission(tmp_path / "sub.json", predictions)
    model, aux = model_files
    args = ["score", "--gt", str(gt_path), "--submission", str(sub_path), "--out", str(tmp_path / "out")]
    assert main([*args, "--flame", str(model), "--aux", str(aux)]) == 0
    report = json.loads((tmp_path / "out" / "metrics.json").read_text())
    expected = score_predictions(items, predictions, topology=topology)
    assert report["results"] == {key: s.mean for key, s in expected.overall.items()}
    assert (tmp_path / "out" / "metrics.md").read_text().startswith("# DAD-3DHeads benchmark")
    assert "nme_reprojection" in capsys.readouterr().out


def test_cli_score_bad_files_exit_2(tmp_path, items, model_files, capsys):
    model, aux = model_files
    gt_path = write_gt_file(tmp_path / "gt.json", items)
    bad = tmp_path / "broken.json"
    bad.write_text("[1, 2")
    common = ["--out", str(tmp_path / "out"), "--flame", str(model), "--aux", str(aux)]
    assert main(["score", "--gt", str(bad), "--submission", str(gt_path), *common]) == 2
    assert f"GT file {bad}: not valid JSON" in capsys.readouterr().err
    assert main(["score", "--gt", str(gt_path), "--submission", str(gt_path), *common]) == 2
    assert f"submission {gt_path}: expected a JSON object" in capsys.readouterr().err
    missing = tmp_path / "nope.json"
    assert main(["score", "--gt", str(gt_path), "--submission", str(missing), *common]) == 2
    assert f"submission {missing}: file not found" in capsys.readouterr().err


def test_cli_make_gt(tmp_path, items, capsys):
    make_dataset(tmp_path / "data", items)
    out = tmp_path / "gt.json"
    assert main(["make-gt", "--data", str(tmp_path / "data"), "--split", "val", "--out", str(out)]) == 0
    assert [item.item_id for item in read_gt_file(out)] == ["id0", "id1", "id2"]
    assert main(["make-gt", "--data", str(tmp_path / "data"), "--split", "test", "--out", str(out)]) == 2
    assert "neither" in capsys.readouterr().err
