# Two commands for a newcomer: `make demo` and `make test`. Both create .venv and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU build of torch; pinned so that pip never pulls a multi-GB CUDA build on a machine without a GPU.
TORCH_SPEC ?= torch==2.13.0
BASE := $(VENV)/.base-installed
INSTALLED := $(VENV)/.installed
PEERS := .venv-peers
TYPECHECK := build/typecheck/idealrt

.PHONY: demo test check fuzz bench bench-peers compiled profiles install clean

# What estimating needs (no torch, no jax): enough for the demo.
$(BASE): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	$(BIN)/python -m idealrt.simulator.compiled.build
	$(BIN)/python -m compileall -q simulator hardware_specs calibration
	touch $@

# Everything: measuring (torch, CPU build), fitting (jax) and the developer tools.
$(INSTALLED): $(BASE)
	$(BIN)/python -m pip install --quiet '$(TORCH_SPEC)'
	$(BIN)/python -m pip install --quiet -e '.[measure,fit,dev]'
	touch $@

install: $(INSTALLED)

demo: $(BASE) compiled
	$(BIN)/idealrt estimate --model llama-3.1-70b --hardware h100-sxm --tp 4 --prompt 1024 --output 256
	$(BIN)/idealrt paper --plot demo_out/alpha_vs_prompt.png

test: $(INSTALLED) compiled
	$(BIN)/python -m pytest

# Lint, format and types (the same checks .ci/run and the pre-commit hooks run).
check: $(INSTALLED) $(TYPECHECK)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# mypy cannot follow the package-dir mapping (simulator/ installs as idealrt.simulator): it types the folders
# through links named as they install.
$(TYPECHECK):
	mkdir -p $@
	for package in simulator hardware_specs calibration; do ln -sfn ../../../$$package $@/$$package; done

# The property suite at fuzzing scale (≥ 10,000 bad inputs, ≥ 2,000 valid cases), with the counts.
fuzz: $(INSTALLED)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python tests/fuzz_report.py

bench: $(INSTALLED)
	$(BIN)/python -m benchmarks.run

# llm-analysis 0.2.2 in its own environment, for the side-by-side figures of `make bench`.
bench-peers:
	test -x $(PEERS)/bin/python || $(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/python -m pip install --quiet 'llm-analysis==0.2.2'

# The compiled formulas of every catalog structure (generated code, not committed): only the missing or stale
# ones are written, so this is quick when nothing changed.
compiled: $(BASE)
	$(BIN)/python -m idealrt.simulator.compiled.build

# Refit the shipped profiles from the shipped datasets (about 6 minutes on 2 cores).
profiles: $(INSTALLED)
	$(BIN)/python -m idealrt.calibration.build_profiles

clean:
	rm -rf $(VENV) $(PEERS) demo_out .pytest_cache
