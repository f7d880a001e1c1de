# envoy-pyext. The two commands: `make run` (a sample filter in Envoy) and `make test`.
# Everything else is installed into the project's virtualenv ($(VENV)) on first use.

VENV ?= .venv
PYTHON3 ?= python3
PY := $(VENV)/bin/python
DEPS := $(VENV)/.deps-installed
EXT := $(VENV)/.ext-installed
# What the Cython core and the shim are built from: the files and patterns of build_config.json
# (the one list; setup.py, tools/build_so.py and Bazel read it too), and that file itself.
NATIVE_SRC := $(wildcard $(shell $(PYTHON3) tools/build_config.py --make-deps))
ifeq ($(strip $(NATIVE_SRC)),)
$(error tools/build_config.py --make-deps (run with $(PYTHON3)) listed no file)
endif
PYTEST_ARGS ?=
# The module Envoy loads (the tests find it through PYEXT_SO). The matrix builds one per Python.
SO ?= libpyfilter.so
export PYEXT_SO := $(abspath $(SO))
# make test-matrix: the whole suite on each of these CPython versions (tools/find_python.py).
PYTHONS ?= 3.11 3.12 3.13

.PHONY: help venv build-so-local build-so-bazel run test test-matrix test-unit test-integration \
        fuzz bench bench-scaling clean distclean

help:
	@echo "make run             build libpyfilter.so and serve samples.add_header in Envoy on 127.0.0.1:10000"
	@echo "                     (envoy-pyext run; RUN_ARGS=\"--listen 127.0.0.1:0\" for any free port)"
	@echo "make test            the whole test suite (unit + real-Envoy integration), default python3"
	@echo "make test-matrix     the whole suite on CPython $(PYTHONS) (what CI runs)"
	@echo "make build-so-local  build ./libpyfilter.so against $(VENV)'s shared libpython"
	@echo "make build-so-bazel  build the same .so with Bazel (build/bazel/libpyfilter.so)"
	@echo "make fuzz            generated traffic against a real Envoy, FUZZ_EXAMPLES (default 500)"
	@echo "                     random examples per test (make test runs a fixed, small set)"
	@echo "make bench           side-by-side benchmark (docs/PERFORMANCE.md)"
	@echo "make bench-scaling   shared interpreter vs per-worker sub-interpreters, 1 and 2 workers"
	@echo "make clean           remove build outputs"

$(PY):
	$(PYTHON3) -m venv $(VENV)

venv: $(DEPS)
$(DEPS): requirements-dev.txt | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

# `pip install -e .`: the envoy_pyext package (and its extension, for use outside Envoy).
$(EXT): $(DEPS) $(NATIVE_SRC) setup.py tools/build_config.py pyproject.toml
	$(PY) -m pip install -q --no-build-isolation --no-deps -e .
	touch $@

$(SO): $(EXT) $(NATIVE_SRC) tools/build_so.py tools/build_config.py
	$(PY) tools/build_so.py --out $@

build-so-local: $(SO)

build-so-bazel: $(EXT)
	PYTHON_BIN_PATH=$(abspath $(PY)) bash tools/bazel/build.sh

# `envoy-pyext run` (src/envoy_pyext/cli.py): Envoy with the sample in front of the built-in
# echo upstream; it prints where to send a request and fails if 127.0.0.1:10000 is taken.
RUN_ARGS ?= --concurrency 2
run: build-so-local
	$(VENV)/bin/envoy-pyext run samples.add_header:AddHeader --config "hello from envoy-pyext" \
	  --listen 127.0.0.1:10000 --so $(SO) $(RUN_ARGS)

test: build-so-local
	$(PY) -m pytest tests $(PYTEST_ARGS)

# The default python3's version runs `make test` as it is; each other version gets its own venv
# (.venv-X.Y) and module (build/pyX.Y/libpyfilter.so) and skips the Bazel build and the bench
# smoke run, which do not depend on the Python version.
test-matrix:
	@set -e; default=$$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
	for v in $(PYTHONS); do \
	  py=$$(python3 tools/find_python.py $$v); \
	  echo "==== CPython $$v ($$py)"; \
	  if [ "$$v" = "$$default" ]; then \
	    $(MAKE) --no-print-directory test; \
	  else \
	    $(MAKE) --no-print-directory test VENV=.venv-$$v PYTHON3=$$py SO=build/py$$v/libpyfilter.so \
	      PYTEST_ARGS="--ignore=tests/bazel --ignore=tests/integration/test_bench_smoke.py $(PYTEST_ARGS)"; \
	  fi; \
	done

test-unit: build-so-local
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

test-integration: build-so-local
	$(PY) -m pytest tests/integration $(PYTEST_ARGS)

# tests/integration/test_generated.py with many random examples (hypothesis); `make test` runs
# the same tests with a fixed (derandomized) set of 12 examples each.
FUZZ_EXAMPLES ?= 500
fuzz: build-so-local
	PYEXT_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest tests/integration/test_generated.py \
	  $(PYTEST_ARGS)

bench: build-so-local
	$(PY) bench/run.py

# Shared interpreter vs `interpreter: per_worker` at --concurrency 1 and 2 (bench/scaling.py):
# needs CPython 3.12+, so it builds and uses the 3.12 virtualenv and module of `make test-matrix`.
SCALING_PY ?= 3.12
bench-scaling:
	$(MAKE) --no-print-directory build-so-local VENV=.venv-$(SCALING_PY) \
	  PYTHON3=$$(python3 tools/find_python.py $(SCALING_PY)) SO=build/py$(SCALING_PY)/libpyfilter.so
	PYEXT_SO=$(abspath build/py$(SCALING_PY)/libpyfilter.so) .venv-$(SCALING_PY)/bin/python \
	  bench/scaling.py $(SCALING_ARGS)

clean:
	rm -rf build $(SO) libpyfilter.so src/envoy_pyext/*.so src/envoy_pyext/*.cpp src/envoy_pyext/_native.h $(EXT)

distclean: clean
	rm -rf $(VENV) .venv-3.* *.egg-info src/*.egg-info .pytest_cache .hypothesis
