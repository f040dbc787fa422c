# liter-llm entry points. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

CARGO ?= cargo
PYTHON ?= python3
NPM ?= npm
GO ?= go
# Pinned: its output (include/liter_llm.h) is checked in.
CBINDGEN_VERSION := 0.29.4
# Pinned: `make lint` must give the same verdict everywhere.
RUFF_VERSION := 0.17.5

ROOT := $(abspath .)
# Go's build cache does not notice that a C library linked through cgo changed (golang/go#24355):
# a define naming the archives' size and time makes a new library a new cgo build, so no Go
# binary or test runs a stale copy of the core. Expanded when a recipe runs, after the archives
# are built.
GO_LIBRARIES = $(shell stat -c %s.%Y $(wildcard $(ROOT)/bindings/go/lib/*/libliter_llm.a $(ROOT)/build/test-panic/libliter_llm.a) | tr '\n' _)
GO_CGO = CGO_CFLAGS="-O2 -g -DLITER_LLM_LIBRARIES=$(GO_LIBRARIES)" $(GO)
RELEASE := $(ROOT)/core/target/release
LIB := $(RELEASE)/libliter_llm.so
MOCK_UPSTREAM := $(RELEASE)/liter-llm-mock-upstream
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python
BUILD := $(ROOT)/build

.PHONY: telemetry-spans check-manifests test-gateway-sdk test-scale test-static build test-panic-lib lint header check-header tools venv python node test test-rust test-c test-python test-node test-go conformance demo bench

## build: the shared/static library, the mock upstream and the gateway (release)
build:
	# Two invocations: building the FFI crate alone unifies the same features as `pip install`,
	# so both produce the identical library.
	cd core && $(CARGO) build --release --locked -p liter-llm-ffi
	cd core && $(CARGO) build --release --locked -p liter-llm-mock-upstream
	cd core && $(CARGO) build --release --locked -p liter-llm-server

## test-panic-lib: the library built with the `test-panic` feature (its exports panic on purpose when
## given "__liter_llm_test_panic__"), in build/test-panic/, for the tests of the panic boundary
test-panic-lib:
	cd core && $(CARGO) build --locked -p liter-llm-ffi --features test-panic
	@mkdir -p $(BUILD)/test-panic
	cp core/target/debug/libliter_llm.so core/target/debug/libliter_llm.a $(BUILD)/test-panic/

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
	cp include/liter_llm.h bindings/go/include/liter_llm.h

## check-header: fail when include/liter_llm.h is stale
check-header: tools
	@mkdir -p $(BUILD)
	$(call run_cbindgen,$(BUILD)/liter_llm.h)
	@diff -u include/liter_llm.h $(BUILD)/liter_llm.h || { echo "include/liter_llm.h is stale: run 'make header' and commit it"; exit 1; }
	@diff -u include/liter_llm.h bindings/go/include/liter_llm.h || { echo "bindings/go/include/liter_llm.h differs from include/liter_llm.h: run 'make header' and commit it"; exit 1; }
	@echo "include/liter_llm.h is up to date"

$(VENV)/.deps: bindings/python/pyproject.toml conformance/requirements.txt Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "setuptools>=77" wheel "cffi>=1.17" "pytest>=8" "mypy>=1.10" "ruff==$(RUFF_VERSION)" "hypothesis>=6.100" \
		"oteltap==1.0.0" "opentelemetry-sdk==1.45.2" -r conformance/requirements.txt
	touch $@

venv: $(VENV)/.deps

## python: build the core and install the Python binding into .venv, as a user would
python: build venv
	$(PY) -m pip install --quiet --no-build-isolation --force-reinstall --no-deps ./bindings/python

## node: install the Node binding's dependencies and copy the library into it
node: build
	cd bindings/node && $(NPM) ci --no-audit --no-fund --loglevel=error && $(NPM) run --silent build:native
	cd conformance/runners/node && $(NPM) ci --no-audit --no-fund --loglevel=error

## lint: rustfmt, clippy (warnings are errors), ruff, gofmt and go vet, and ESLint for the Node package
lint: venv node go-lib
	cd core && $(CARGO) fmt --all -- --check
	cd core/fuzz && $(CARGO) fmt -- --check
	# The fuzz workspace has its own lock file: a dependency added to the core must reach it too,
	# or `make fuzz` (which builds with --locked) stops before its first target.
	cd core/fuzz && $(CARGO) tree --locked --depth 0 >/dev/null
	cd core && $(CARGO) clippy --locked --workspace --all-targets --features liter-llm-ffi/test-panic -- -D warnings
	cd bench/floor-rs && $(CARGO) fmt -- --check
	cd bench/floor-rs && CARGO_TARGET_DIR=$(ROOT)/core/target $(CARGO) clippy --locked --all-targets -- -D warnings
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	@unformatted=$$(gofmt -l bindings/go conformance/runners/go examples/go bench/soak/go); \
		if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted (run gofmt -w)"; exit 1; fi
	cd bindings/go && $(GO_CGO) vet ./... && $(GO_CGO) vet -tags testpanic ./...
	cd conformance/runners/go && $(GO_CGO) vet ./...
	cd examples/go && $(GO_CGO) vet ./...
	cd bench/soak/go && $(GO_CGO) vet ./...
	cd bindings/node && $(NPM) run --silent lint

## test: everything CI checks
test: lint check-header test-rust test-c test-python test-node test-go conformance conformance-valgrind check-manifests test-gateway-sdk

# Pinned: the manifests' verdict must not move under us.
KUBECONFORM := $(BUILD)/bin/kubeconform
KUSTOMIZE := $(BUILD)/bin/kustomize
KEDA_VERSION := v2.17.2
KUBERNETES_VALIDATE_VERSION := 1.37.0

$(KUBECONFORM):
	GOBIN=$(BUILD)/bin $(GO) install github.com/yannh/kubeconform/cmd/kubeconform@v0.7.0

$(KUSTOMIZE):
	GOBIN=$(BUILD)/bin $(GO) install sigs.k8s.io/kustomize/kustomize/v5@v5.7.1

## check-manifests: render deploy/kubernetes with kustomize and validate it strictly, offline, with
## kubeconform against Kubernetes' schemas (PyPI kubernetes-validate) and KEDA's CRD (its Go module)
## (~10 s once the tools are cached; the first go install of kustomize takes a few minutes)
check-manifests: venv $(KUBECONFORM) $(KUSTOMIZE)
	$(PY) -m pip install --quiet "kubernetes-validate==$(KUBERNETES_VALIDATE_VERSION)"
	cd $(BUILD) && $(GO) mod download github.com/kedacore/keda/v2@$(KEDA_VERSION)
	$(PY) deploy/kubernetes/check.py --kubeconform $(KUBECONFORM) --kustomize $(KUSTOMIZE) --schemas $(BUILD)/k8s-schemas \
		--keda-crd $$($(GO) env GOMODCACHE)/github.com/kedacore/keda/v2@$(KEDA_VERSION)/config/crd/bases/keda.sh_scaledobjects.yaml

GATEWAY := $(RELEASE)/liter-llm
SDK_TESTS := core/liter-llm-server/tests/sdk

## test-gateway-sdk: the official openai SDKs (PyPI and npm) against the gateway and the mock (~20 s)
test-gateway-sdk: build venv
	$(PY) -m pip install --quiet "openai>=1.50"
	cd $(SDK_TESTS) && $(NPM) ci --no-audit --no-fund --loglevel=error
	cd $(SDK_TESTS) && LITER_LLM_MOCK_UPSTREAM=$(MOCK_UPSTREAM) LITER_LLM_GATEWAY=$(GATEWAY) $(PY) -m pytest -q -p no:cacheprovider .
	cd $(SDK_TESTS) && LITER_LLM_MOCK_UPSTREAM=$(MOCK_UPSTREAM) LITER_LLM_GATEWAY=$(GATEWAY) node --test openai.test.mjs

test-rust: venv
	cd core && $(CARGO) test --locked --workspace
	cd core && $(CARGO) test --locked -p liter-llm-ffi --features test-panic --test panic

## test-c: the C smoke program and the completion-queue program (~3 s) against the header and the
## shared library, under valgrind; the panic-boundary and fork programs
test-c: build
	@mkdir -p $(BUILD)
	cc -std=c11 -Wall -Wextra -Werror -pthread -Iinclude core/liter-llm-ffi/tests/c/smoke.c \
		-L$(RELEASE) -lliter_llm -Wl,-rpath,$(RELEASE) -o $(BUILD)/smoke
	valgrind --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
		--error-exitcode=1 $(BUILD)/smoke
	cc -std=c11 -Wall -Wextra -Werror -pthread -Iinclude core/liter-llm-ffi/tests/c/queue.c \
		-L$(RELEASE) -lliter_llm -Wl,-rpath,$(RELEASE) -o $(BUILD)/queue
	valgrind --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
		--error-exitcode=1 $(BUILD)/queue
	$(BUILD)/queue fork
	$(MAKE) --no-print-directory test-panic-lib
	cc -std=c11 -Wall -Wextra -Werror -pthread -Iinclude core/liter-llm-ffi/tests/c/panic.c \
		-L$(BUILD)/test-panic -lliter_llm -Wl,-rpath,$(BUILD)/test-panic -o $(BUILD)/panic
	$(BUILD)/panic
	cc -std=c11 -Wall -Wextra -Werror -pthread -Iinclude core/liter-llm-ffi/tests/c/fork.c \
		-L$(RELEASE) -lliter_llm -Wl,-rpath,$(RELEASE) -o $(BUILD)/fork
	$(BUILD)/fork

# node and go-lib: tests/test_telemetry_languages.py runs the Node and Go telemetry callers.
test-python: python node go-lib test-panic-lib
	cd bindings/python && LITER_LLM_MOCK_UPSTREAM=$(MOCK_UPSTREAM) $(PY) -m pytest -q
	cd $(BUILD) && $(PY) -m mypy --strict --no-incremental -p liter_llm
	cd bindings/python && $(PY) -m mypy --strict --no-incremental tests

## test-node: the Node binding's tests and type declarations
test-node: node venv test-panic-lib
	cd bindings/node && LITER_LLM_MOCK_UPSTREAM=$(MOCK_UPSTREAM) $(NPM) test
	cd bindings/node && $(NPM) run --silent typecheck
	cd conformance/runners/node && $(NPM) test

## test-go: the Go binding under the race detector and with GOGC=1, and go vet
test-go: build venv go-lib test-panic-lib
	cd bindings/go && $(GO_CGO) vet ./...
	cd bindings/go && LITER_LLM_MOCK_UPSTREAM=$(MOCK_UPSTREAM) $(GO_CGO) test -race -count=1 ./...
	cd bindings/go && LITER_LLM_MOCK_UPSTREAM=$(MOCK_UPSTREAM) GOGC=1 $(GO_CGO) test -count=1 ./...
	cd bindings/go && LITER_LLM_MOCK_UPSTREAM=$(MOCK_UPSTREAM) $(GO_CGO) test -tags testpanic -count=1 -run Panic ./...
	cd conformance/runners/go && $(GO_CGO) vet ./... && $(GO_CGO) test -count=1 ./...

$(BUILD)/conformance-c: conformance/runners/c/driver.c include/liter_llm.h build
	@mkdir -p $(BUILD)
	cc -std=c11 -Wall -Wextra -Werror -pthread -Iinclude $< -L$(RELEASE) -lliter_llm -Wl,-rpath,$(RELEASE) -o $@

## conformance: every case through the one harness, with the Python, Node, Go and C drivers, then
## the matrix across languages
conformance: python node go-lib $(BUILD)/conformance-c
	$(PY) -m pytest -q conformance/harness conformance/runners/python
	rm -f $(BUILD)/conformance-*.jsonl
	cd conformance/runners/go && $(GO_CGO) build -o $(BUILD)/conformance-go .
	export LITER_LLM_MOCK_UPSTREAM=$(MOCK_UPSTREAM); \
	for driver in "python=$(PY) conformance/runners/python/driver.py" "node=node conformance/runners/node/driver.js" \
		"go=$(BUILD)/conformance-go" "c=$(BUILD)/conformance-c"; do \
		language=$${driver%%=*}; \
		$(PY) conformance/harness/run.py --driver "$${driver#*=}" --results $(BUILD)/conformance-$$language.jsonl \
			> $(BUILD)/conformance-$$language.log || true; \
	done; \
	grep -h "^FAIL" $(BUILD)/conformance-*.log || true
	$(PY) conformance/matrix.py python=$(BUILD)/conformance-python.jsonl node=$(BUILD)/conformance-node.jsonl \
		go=$(BUILD)/conformance-go.jsonl c=$(BUILD)/conformance-c.jsonl

.PHONY: conformance-valgrind
## conformance-valgrind: every case through the C driver under valgrind (memcheck): no errors and
## nothing definitely lost in any driver process (~45 s)
conformance-valgrind: venv $(BUILD)/conformance-c
	rm -rf $(BUILD)/valgrind && mkdir -p $(BUILD)/valgrind
	LITER_LLM_MOCK_UPSTREAM=$(MOCK_UPSTREAM) $(PY) conformance/harness/run.py --results $(BUILD)/conformance-c-valgrind.jsonl \
		--driver "valgrind --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
		--log-file=$(BUILD)/valgrind/conformance-c.%p.log $(BUILD)/conformance-c" > $(BUILD)/conformance-c-valgrind.log \
		|| { grep "^FAIL" $(BUILD)/conformance-c-valgrind.log; exit 1; }
	@tail -n 1 $(BUILD)/conformance-c-valgrind.log
	@logs=$$(ls $(BUILD)/valgrind/*.log); for log in $$logs; do \
		grep -q "ERROR SUMMARY: 0 errors" $$log || { cat $$log; echo "valgrind found errors: $$log"; exit 1; }; \
	done; echo "valgrind: no errors, nothing definitely lost ($$(echo $$logs | wc -w) driver processes)"

## test-scale: three gateway replicas behind HAProxy sharing one redis-server, scraped by
## Prometheus, under load: the shared limit, SIGTERM and kill -9 of a replica (~40 s; .ci/run)
test-scale: build venv
	$(PY) -m pip install --quiet pyyaml
	$(PY) core/liter-llm-server/tests/scale/run.py $(MOCK_UPSTREAM) $(GATEWAY)

STATIC := $(BUILD)/static/liter-llm

## test-static: the gateway linked statically (glibc, rustls) runs in an empty chroot with an empty
## environment, as in the Dockerfile's FROM scratch image (root). Only the binary is relinked with
## crt-static; its dependencies are the release build's (~2 min)
test-static: build venv
	cd core && $(CARGO) rustc --release --locked -p liter-llm-server --bin liter-llm -- -C target-feature=+crt-static
	mkdir -p $(dir $(STATIC)) && cp $(RELEASE)/liter-llm $(STATIC)
	$(PY) core/liter-llm-server/tests/static/run.py $(STATIC) $(MOCK_UPSTREAM)

## demo: build, then run the quickstart (the mock provider, or a real one when its key is set),
## then the same call in Python, Node and Go: three identical answers
demo: python node go-lib
	$(PY) examples/quickstart.py
	@echo
	@$(PY) examples/quickstart_same.py
	@node examples/quickstart.js
	@cd examples/go && $(GO_CGO) run .

.PHONY: fuzz
## fuzz: every fuzz target (core/fuzz/src/bin/*.rs: the SSE parser, each provider's decoders,
## request validation, the configuration file, Retry-After, stored cache values) for FUZZ_SECONDS
## each (default 60), libFuzzer on the stable toolchain; fails on a crash (saved in build/fuzz/)
fuzz:
	core/fuzz/run.sh

.PHONY: soak
## soak: long runs without growth in Python, Node and Go: 1,000,000 mock-provider calls and 200,000
## chaos HTTP calls each, times SOAK_SCALE (default 1); memory, descriptors and threads must stay
## flat after the warm-up; writes bench/soak/results.json and the Soak section of bench/RESULTS.md
SOAK_SCALE ?= 1
soak: python node go-lib
	cd bench/soak/go && $(GO_CGO) build -o $(BUILD)/soak-go .
	LITER_LLM_MOCK_UPSTREAM=$(MOCK_UPSTREAM) SOAK_PYTHON=$(PY) SOAK_SCALE=$(SOAK_SCALE) $(PY) bench/soak/run.py

## telemetry-spans: one call per language (Python, Node, Go) inside a span of the caller's own
## OpenTelemetry SDK, and the call's span as a real OTLP receiver saw it (name, trace id, span id,
## parent span id, attributes), from a fresh run of the canary test; written to
## build/telemetry-spans.json and printed (~1 min; not part of `make test`, which runs the same test)
telemetry-spans: python node go-lib
	rm -f $(BUILD)/telemetry-spans.json
	cd bindings/python && LITER_LLM_MOCK_UPSTREAM=$(MOCK_UPSTREAM) $(PY) -m pytest -q \
		tests/test_telemetry_languages.py -k every_language_joins_the_callers_trace
	$(PY) -m json.tool $(BUILD)/telemetry-spans.json

## bench: liter-llm against the openai SDKs, LiteLLM, httpx and net/http (bench/RESULTS.md); the
## response cache (bench/cache/RESULTS.md); the gateway against the mock directly and the LiteLLM
## proxy (bench/GATEWAY.md) (~15 min)
bench: go-lib python node build
	$(PYTHON) bench/run.py
	$(PY) bench/python_cost.py --json bench/python-cost.json > bench/python-cost.md
	PYTHON=$(PY) $(PY) bench/cache/run.py
	bench/.venv/bin/pip install --quiet "litellm[proxy]==$$(sed -n 's/^litellm==//p' bench/requirements.txt)" || \
		bench/.venv/bin/pip install --quiet -r <(bench/.venv/bin/python bench/litellm_proxy_requirements.py)
	$(PYTHON) bench/gateway.py $(MOCK_UPSTREAM) $(GATEWAY)

# Release artifacts: dist, check-dist, test-dist, toolchain, go-lib (see dist.mk).
include dist.mk
