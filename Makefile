# fastpix — `make demo` and `make test` work on a fresh machine: each creates the virtual
# environment if missing, installs the pinned torch first, then fastpix with its extras.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# The CPU wheel this project is developed against. Install yours (CUDA, JetPack) instead by
# creating $(VENV) with it first; nothing below replaces an installed torch.
TORCH_VERSION ?= 2.13.0
EXTRAS ?= dev,all,nvjpeg
DEMO_OUT ?= demo_out
NATIVE_SOURCES := $(shell find csrc -type f 2>/dev/null) CMakeLists.txt setup.py

.PHONY: install demo test lint format bench clean check-portability

$(VENV)/.fastpix-installed: pyproject.toml $(NATIVE_SOURCES)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install --quiet torch==$(TORCH_VERSION)
	$(PIP) install --quiet "setuptools>=68" wheel "pybind11>=2.12" "cmake>=3.24" ninja "nvidia-nvjpeg>=13.0"
	$(PIP) install --quiet --no-build-isolation -e ".[$(EXTRAS)]"
	touch $@

install: $(VENV)/.fastpix-installed

demo: install
	$(VENV)/bin/fastpix demo --out $(DEMO_OUT)

test: install
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: install
	$(VENV)/bin/fastpix bench all

# Compiles the CPU decoder with every compiler found (gcc, clang, aarch64 cross) and compares
# their outputs (aarch64 under qemu); not part of `make test` (minutes, needs apt packages).
check-portability:
	tools/check_portability.sh

clean:
	rm -rf build $(DEMO_OUT) fastpix/_C*.so fastpix/_cuda*.so
