# Set-up on a fresh machine: a local virtual environment, created once and reused.
# CPU-only machines get the CPU build of torch (no CUDA packages are downloaded).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
TORCH  ?= torch==2.13.0
DEMO_RAW ?= out/demo_cartesian.h5
DEMO_OUT ?= out/demo_images.h5
DEMO_METHOD ?= l-plus-s

.PHONY: demo test lint venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@if command -v nvidia-smi >/dev/null 2>&1; then \
		$(PY) -m pip install -q "torch>=2.1"; \
	else \
		$(PY) -m pip install -q "$(TORCH)" || $(PY) -m pip install -q --index-url https://download.pytorch.org/whl/cpu torch; \
	fi
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	mkdir -p out
	test -f $(DEMO_RAW) || $(VENV)/bin/gadgetron-inr simulate --trajectory cartesian --pattern kt-gaussian \
		--acceleration 8 --frames 12 --matrix 128 --coils 8 --snr 30 --seed 1 -o $(DEMO_RAW)
	$(VENV)/bin/gadgetron-inr replay $(DEMO_RAW) --method $(DEMO_METHOD) -o $(DEMO_OUT) --preview out/demo_preview.png
	$(VENV)/bin/gadgetron-inr evaluate $(DEMO_OUT) --reference $(DEMO_RAW)

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf out .pytest_cache
