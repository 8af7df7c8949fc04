"""Shared fixtures and hooks only: the tiny FLAME-format model (tiny_flame.py) as fixtures, one torch thread,
the hypothesis profiles and the fuzz summary.  Helpers the tests import live in their own modules here
(tiny_flame, train_helpers, inference_helpers, gt_samples, fuzz_harness, dad3dnet_reference)."""

from __future__ import annotations

import json

import fuzz_harness  # registers the hypothesis profiles "ci" and "fuzz"
import pytest
import torch
from hypothesis import settings
from tiny_flame import make_tiny_flame

# The bounded, derandomized profile unless the command line asks for another (--hypothesis-profile=fuzz).
settings.load_profile("ci")


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """The suite's tensors are tiny: extra intra-op threads only fight each other (and numba, and data
    workers) on a 2-core machine, which made several test files 3-5x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny_raw():
    return make_tiny_flame()


@pytest.fixture
def tiny_assets(tiny_raw):
    from trans3dhead.flame import FlameAssets, FlameAux, FlameModelData

    model_raw, aux_raw = tiny_raw
    model = FlameModelData.from_arrays(model_raw, source="tiny")
    return FlameAssets(model=model, aux=FlameAux.from_raw(aux_raw, model=model, source="tiny"))


def pytest_sessionfinish(session):
    """In a pytest-xdist worker (``make test`` runs two): hand the fuzz counts to the controlling process."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None and fuzz_harness.COUNTS:
        workeroutput["fuzz_counts"] = json.dumps(fuzz_harness.COUNTS)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """pytest-xdist's controller: collect the fuzz counts a worker handed over (see above)."""
    counts = getattr(node, "workeroutput", {}).get("fuzz_counts")
    if counts:
        fuzz_harness.COUNTS.update(json.loads(counts))


def pytest_terminal_summary(terminalreporter):
    """How many examples each fuzz target saw (see fuzz_harness.py), when fuzz targets ran."""
    if fuzz_harness.COUNTS:
        terminalreporter.section("fuzz targets")
        for line in fuzz_harness.summary_lines():
            terminalreporter.write_line(line)
