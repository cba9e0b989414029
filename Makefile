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

.PHONY: demo test lint venv clean container-test

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
	$(VENV)/bin/mypy
	$(VENV)/bin/python -m pytest -q

# The containerised integration tests (tests/containers, docs/containers.md): host set-up, image build
# (podman's layer cache makes a rebuild ~1 s), the cases, then removal of any container they left.
# Skips with the reason where podman cannot run (not root, or neither podman nor apt-get) or no
# Gadgetron is installed (../shared/tools/build-gadgetron): the scripts exit 3 then.
CONTAINER_TIMEOUT ?= 2400
container-test: $(STAMP)
	@bash docker/make-base-image.sh --check || { echo "container-test: SKIPPED: podman cannot run here (reason above)"; exit 0; }; \
	start=$$(date +%s); \
	timeout $(CONTAINER_TIMEOUT) bash docker/build-image.sh; rc=$$?; \
	if [ $$rc = 3 ]; then echo "container-test: SKIPPED: no image can be built here (reason above)"; exit 0; fi; \
	[ $$rc = 0 ] || exit $$rc; \
	echo "container-test: image ready after $$(( $$(date +%s) - start )) s"; \
	GADGETRON_INR_CONTAINERS=1 timeout $(CONTAINER_TIMEOUT) $(PY) -m pytest -q -p no:cacheprovider tests/containers; \
	rc=$$?; podman ps -aq --filter label=gadgetron-inr-test | xargs -r podman rm -f -t 2 >/dev/null; \
	echo "container-test: done after $$(( $$(date +%s) - start )) s (pytest exit $$rc)"; exit $$rc

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf out .pytest_cache
