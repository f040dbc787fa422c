# liter-llm entry points. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

CARGO ?= cargo
PYTHON ?= python3
# Pinned: its output (include/liter_llm.h) is checked in.
CBINDGEN_VERSION := 0.29.4

ROOT := $(abspath .)
RELEASE := $(ROOT)/core/target/release
LIB := $(RELEASE)/libliter_llm.so
MOCK_UPSTREAM := $(RELEASE)/liter-llm-mock-upstream
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python
BUILD := $(ROOT)/build

.PHONY: build header check-header tools venv python test test-rust test-c test-python conformance demo

## build: the shared/static library and the mock upstream (release)
build:
	cd core && $(CARGO) build --release --locked -p liter-llm-ffi -p liter-llm-mock-upstream

## tools: the pinned cbindgen
tools:
	@if ! cbindgen --version 2>/dev/null | grep -qx "cbindgen $(CBINDGEN_VERSION)"; then \
		$(CARGO) install cbindgen --version $(CBINDGEN_VERSION) --locked; fi

define run_cbindgen
	cbindgen --quiet --config core/liter-llm-ffi/cbindgen.toml --crate liter-llm-ffi --output $(1) core/liter-llm-ffi
endef

## header: regenerate include/liter_llm.h from the Rust doc comments
header: tools
	$(call run_cbindgen,include/liter_llm.h)

## check-header: fail when include/liter_llm.h is stale
check-header: tools
	@mkdir -p $(BUILD)
	$(call run_cbindgen,$(BUILD)/liter_llm.h)
	@diff -u include/liter_llm.h $(BUILD)/liter_llm.h || { echo "include/liter_llm.h is stale: run 'make header' and commit it"; exit 1; }
	@echo "include/liter_llm.h is up to date"

$(VENV)/.deps: bindings/python/pyproject.toml conformance/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "setuptools>=77" wheel "cffi>=1.17" "pytest>=8" "mypy>=1.10" -r conformance/requirements.txt
	touch $@

venv: $(VENV)/.deps

## python: build the core and install the Python binding into .venv, as a user would
python: build venv
	$(PY) -m pip install --quiet --no-build-isolation --force-reinstall --no-deps ./bindings/python

## test: everything CI checks
test: check-header test-rust test-c test-python conformance

test-rust:
	cd core && $(CARGO) test --locked --workspace

## test-c: the C smoke program against the header and the shared library, under valgrind
test-c: build
	@mkdir -p $(BUILD)
	cc -std=c11 -Wall -Wextra -Werror -pthread -Iinclude core/liter-llm-ffi/tests/c/smoke.c \
		-L$(RELEASE) -lliter_llm -Wl,-rpath,$(RELEASE) -o $(BUILD)/smoke
	valgrind --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
		--error-exitcode=1 $(BUILD)/smoke

test-python: python
	cd bindings/python && LITER_LLM_MOCK_UPSTREAM=$(MOCK_UPSTREAM) $(PY) -m pytest -q
	cd $(BUILD) && $(PY) -m mypy --strict --no-incremental -p liter_llm
	cd bindings/python && $(PY) -m mypy --strict --no-incremental tests

## conformance: every case through every binding
conformance: python
	$(PY) -m pytest -q conformance/runners/python
	LITER_LLM_MOCK_UPSTREAM=$(MOCK_UPSTREAM) $(PY) conformance/runners/python/run.py --results $(BUILD)/conformance-python.jsonl

## demo: build, then run the quickstart (the mock provider, or a real one when its key is set)
demo: python
	$(PY) examples/quickstart.py
