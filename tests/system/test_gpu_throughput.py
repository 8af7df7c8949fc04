"""benchmarks/gpu_throughput.py and benchmarks/loader_speed.py run end to end on the CPU at tiny sizes
(both sections, both models, every training data source): the GPU run is then a matter of sizes.  The
compiled modes are left out here (tracing the two models takes half a minute on this CPU); that the
models' forward traces whole under torch.compile is tests/system/test_hot_path.py's test."""

from __future__ import annotations

import json
import sys

from benchmark_scripts import load_benchmark


def test_gpu_throughput_tiny_on_the_cpu(tmp_path, monkeypatch, capsys):
    out = tmp_path / "gt"
    argv = ["gpu_throughput.py", "--device", "cpu", "--tiny", "--out", str(out), "--modes", "eager"]
    argv += ["--batches", "2", "--precisions", "bf16", "--warmup", "0", "--iters", "1", "--train-iters", "1"]
    argv += ["--train-batch", "2"]
    monkeypatch.setattr(sys, "argv", [*argv, "--synth-count", "4"])
    load_benchmark("gpu_throughput").main()
    results = json.loads((out / "gpu_throughput.json").read_text())
    cells = {r["model"]: r for r in results["inference"]}
    assert len(results["inference"]) == 2 and set(cells) == {"trans3dhead", "dad3dnet"}
    assert all(r["images_per_s"] > 0 and r["precision"] == "bf16" for r in cells.values()), cells
    sources = {(r["model"], r["source"]): r for r in results["training"]}
    assert len(sources) == 6 and all(r["images_per_s"] > 0 for r in sources.values()), sources
    table = (out / "gpu_throughput.md").read_text()
    assert (
        "| Trans3DHead | 2 | eager | - | " in table and "Trans3DHead / DAD-3DNet: batch 2 eager bf16" in table
    )
    assert table in capsys.readouterr().out

    argv = ["loader_speed.py", "--data", str(out / "data"), "--size", "64", "--batch", "2", "--batches", "1"]
    argv += ["--vertices", "1500"]  # the tiny sizes' head model
    monkeypatch.setattr(sys, "argv", [*argv, "--out", str(tmp_path / "ls")])
    load_benchmark("loader_speed").main()
    figures = json.loads((tmp_path / "ls" / "loader.json").read_text())["images_per_s"]
    assert set(figures) == {"augmented", "plain"}
    for loaders in figures.values():
        assert set(loaders) == {"files", "cache", "cache_plus_cpu_augment"} and min(loaders.values()) > 0
