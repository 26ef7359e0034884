# Set-up and everyday commands. `make demo` and `make test` create .venv if missing.
#
# TORCH is installed before the package so CPU-only machines get the CPU wheel; the package
# itself only asks for torch>=2.2, so GPU users keep their CUDA build (make TORCH=torch ...).
PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install --quiet

.PHONY: demo test lint bench install clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: pyproject.toml | $(PY)
	$(PIP) "$(TORCH)"
	$(PIP) -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime
	$(PIP) -e ".[dev,peers]"
	$(PIP) --no-deps "norse==1.1.0"  # its torchvision would pull a CUDA torch (docs/nir.md)
	$(PIP) --no-deps "spikingjelly==2.0.0"  # the same for its torchvision (docs/benchmarks.md)
	$(PIP) --no-deps "neurobench==2.3.0"  # its torchaudio would replace torch; the metrics need none (docs/benchmarks.md)
	touch $@

install: $(VENV)/.runtime

demo: $(VENV)/.runtime
	$(VENV)/bin/synaptica demo --out out

test: $(VENV)/.dev
	$(PY) -m ruff check .
	$(PY) -m pytest -q

bench: $(VENV)/.dev
	$(VENV)/bin/synaptica bench cuba --vs brian2-cpp --vs brian2 --vs nest --plot out/bench_cuba.png

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
