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
        fuzz bench bench-callgrind bench-check bench-scaling soak build-so-asan test-asan \
        test-leaks clean distclean

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
	@echo "make bench-callgrind record instructions/request per variant (bench/results/<date>-callgrind.json)"
	@echo "make bench-check     compare with the newest callgrind record; fails on > 10 % more"
	@echo "make bench-scaling   shared interpreter vs per-worker sub-interpreters, 1 and 2 workers"
	@echo "make soak            10-minute soak of a filter mix in one Envoy (SOAK_ARGS=\"--duration 60\")"
	@echo "make test-asan       ASan build of libpyfilter.so: integration tests + a short soak in Envoy"
	@echo "make test-leaks      unit tests under valgrind memcheck (leaks and bad accesses)"
	@echo "                     (these three are not part of make test: docs/RELIABILITY.md)"
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

# Instructions per request under callgrind (deterministic; ~8 min each, not part of `make test`).
bench-callgrind: build-so-local
	$(PY) bench/run.py --callgrind

bench-check: build-so-local
	$(PY) bench/run.py --callgrind --check

# ---- reliability evidence (docs/RELIABILITY.md); none of it is part of `make test` ----------

# bench/soak.py: losses, RSS after warm-up, live counters back at rest; a result JSON in
# bench/results/. HTTP/2 load needs h2load: installed with apt-get if missing, else skipped.
SOAK_ARGS ?=
soak: build-so-local
	$(PY) bench/soak.py $(SOAK_ARGS)

# The AddressSanitizer variant of libpyfilter.so (+ the small library preloaded beside it).
ASAN_SO := build/asan/libpyfilter.so
$(ASAN_SO): $(EXT) $(NATIVE_SRC) $(wildcard tools/asan/*) tools/build_so.py tools/build_config.py
	$(PY) tools/build_so.py --asan --out $@

build-so-asan: $(ASAN_SO)

# The integration tests that start Envoy through the harness (which runs it the ASan way), less:
# test_samples.py (numpy's C++ pairs Envoy's operator new with libasan's delete: a bad-free at
# import that is not ours), test_remote_module.py (module files not named libpyfilter*),
# test_wheel.py (packaging; its Envoys load the wheel's own module), and the
# RSS-bound tests (ASan's quarantine holds freed memory). Then a 60 s soak against the ASan build.
ASAN_TESTS ?= $(filter-out tests/integration/test_samples.py tests/integration/test_remote_module.py \
  tests/integration/test_wheel.py \
  tests/integration/test_cli.py tests/integration/test_launcher.py tests/integration/test_bench_smoke.py, \
  $(wildcard tests/integration/test_*.py))
ASAN_DESELECT ?= bounded_memory or keep_memory_bounded
ASAN_SOAK_ARGS ?= --duration 60 --warmup 20 --rss-slope-mib 5
test-asan: $(ASAN_SO)
	PYEXT_ASAN=1 PYEXT_SO=$(abspath $(ASAN_SO)) $(PY) -m pytest $(ASAN_TESTS) \
	  -k "not ($(ASAN_DESELECT))" -p no:cacheprovider $(PYTEST_ARGS)
	$(PY) bench/soak.py --so $(ASAN_SO) --asan --out build/asan/soak.json $(ASAN_SOAK_ARGS)

# The unit tests (the Cython core against the fake host) under valgrind memcheck: any invalid
# access or definite leak whose stack reaches the module or the fake host fails
# (tools/leakcheck.py; CPython's own findings are listed, not judged).
LEAK_TESTS ?= tests/unit/test_headermap.py tests/unit/test_buffer.py tests/unit/test_dispatch.py \
  tests/unit/test_phase.py tests/unit/test_async_unit.py tests/unit/test_context_unit.py
test-leaks: build-so-local
	@command -v valgrind >/dev/null || { echo "make test-leaks: installing valgrind (apt-get)"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q valgrind >/dev/null || \
	  { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q valgrind; }; }
	$(PY) tools/leakcheck.py -- $(LEAK_TESTS) $(PYTEST_ARGS)

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
