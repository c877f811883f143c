# Two commands for a newcomer: `make demo` and `make test`. Both create .venv and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU build of torch; pinned so that pip never pulls a multi-GB CUDA build on a machine without a GPU.
TORCH_SPEC ?= torch==2.13.0
INSTALLED := $(VENV)/.installed

.PHONY: demo test bench profiles install clean

$(INSTALLED): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet '$(TORCH_SPEC)'
	$(BIN)/python -m pip install --quiet -e '.[measure,fit,dev]'
	touch $@

install: $(INSTALLED)

demo: $(INSTALLED)
	$(BIN)/idealrt estimate --model llama-3.1-70b --hardware h100-sxm --tp 4 --prompt 1024 --output 256 --profile auto
	$(BIN)/idealrt paper --plot demo_out/alpha_vs_prompt.png

test: $(INSTALLED)
	$(BIN)/python -m pytest

bench: $(INSTALLED)
	$(BIN)/python -m benchmarks.run

# Refit the shipped profiles from the shipped datasets (about 6 minutes on 2 cores).
profiles: $(INSTALLED)
	$(BIN)/python -m calibration.build_profiles

clean:
	rm -rf $(VENV) demo_out .pytest_cache
