# Release artifacts (issue 7), included by the Makefile. Nothing here is committed: dist/ is output.
#
#   make dist        the library cross-linked with zig against glibc 2.17 for x86_64 and aarch64
#                    (shared and static), manylinux2014 wheels and an sdist, the npm tarball, the Go
#                    release module in a file-based module proxy, SHA256SUMS; then check-dist
#   make check-dist  readelf: no GLIBC symbol version above 2.17, no NEEDED outside the allowlist;
#                    auditwheel accepts both wheels as manylinux2014
#   make test-dist   installs every artifact in a clean directory with no Rust toolchain and runs it,
#                    the aarch64 ones under qemu-aarch64 (packaging/test-dist.sh)
#   make toolchain   what those need: packaging/toolchain.sh (apt packages and .venv-dist)

DIST := $(ROOT)/dist
DIST_VENV := $(ROOT)/.venv-dist
DIST_PY := $(DIST_VENV)/bin/python
GLIBC_FLOOR := 2.17
DIST_VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' core/Cargo.toml | head -1)
DIST_TARGETS := x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu
# x86_64 builds with the rustup toolchain; aarch64 with Debian's rustc-web (RUSTC=/usr/bin/rustc),
# whose arm64 standard library is installed (rustup cannot download one here). zig links both
# against glibc 2.17.
GO_MODULE := github.com/liter-llm/liter-llm/bindings/go
HOST_GO_PLATFORM = $(shell $(GO) env GOOS)_$(shell $(GO) env GOARCH)

.PHONY: toolchain dist dist-libs dist-python dist-npm dist-go dist-sums check-dist test-dist go-lib

## toolchain: zig, cargo-zigbuild, Debian's rustc-web with the arm64 std, qemu (packaging/toolchain.sh)
toolchain:
	packaging/toolchain.sh $(DIST_VENV)

## dist: every release artifact into dist/, checked (see dist.mk)
dist: dist-libs dist-python dist-npm dist-go dist-sums check-dist

dist-libs: toolchain
	rm -rf $(DIST) && mkdir -p $(DIST)/include
	echo $(DIST_VERSION) > $(DIST)/VERSION
	cp include/liter_llm.h $(DIST)/include/
	for target in $(DIST_TARGETS); do \
		case $$target in x86_64-*) rustc_env="";; aarch64-*) rustc_env="RUSTC=/usr/bin/rustc";; esac; \
		(cd core && env PATH="$(DIST_VENV)/bin:$$PATH" $$rustc_env \
			cargo zigbuild --release --locked -p liter-llm-ffi --target $$target.$(GLIBC_FLOOR)); \
		mkdir -p $(DIST)/lib/$$target; \
		cp core/target/$$target/release/libliter_llm.so core/target/$$target/release/libliter_llm.a $(DIST)/lib/$$target/; \
	done

dist-python: dist-libs
	rm -rf $(DIST)/python $(BUILD)/sdist && mkdir -p $(DIST)/python
	for target in $(DIST_TARGETS); do \
		case $$target in x86_64-*) plat=manylinux2014_x86_64;; aarch64-*) plat=manylinux2014_aarch64;; esac; \
		rm -rf bindings/python/build bindings/python/src/*.egg-info; \
		(cd bindings/python && LITER_LLM_PREBUILT_LIB=$(DIST)/lib/$$target/libliter_llm.so \
			$(DIST_PY) setup.py --quiet bdist_wheel --plat-name $$plat --dist-dir $(DIST)/python); \
	done
	rm -rf bindings/python/build bindings/python/src/*.egg-info
	# The sdist carries the Rust workspace and the header under rust/ (setup.py looks there).
	mkdir -p $(BUILD)/sdist/rust/core $(BUILD)/sdist/rust/include
	git ls-files -co --exclude-standard bindings/python | grep -v '^bindings/python/tests/' | sed 's|^bindings/python/||' | \
		(cd bindings/python && xargs cp --parents -t $(BUILD)/sdist)
	git ls-files -co --exclude-standard core | grep -v '/tests/\|/benches/' | xargs cp --parents -t $(BUILD)/sdist/rust
	cp include/liter_llm.h $(BUILD)/sdist/rust/include/
	cd $(BUILD)/sdist && $(DIST_PY) setup.py --quiet sdist --dist-dir $(DIST)/python

dist-npm: dist-libs
	rm -rf $(DIST)/npm $(BUILD)/npm && mkdir -p $(DIST)/npm $(BUILD)/npm
	git ls-files -co --exclude-standard bindings/node | grep -v '^bindings/node/test/' | sed 's|^bindings/node/||' | \
		(cd bindings/node && xargs cp --parents -t $(BUILD)/npm)
	for target in $(DIST_TARGETS); do \
		case $$target in x86_64-*) key=linux-x64;; aarch64-*) key=linux-arm64;; esac; \
		mkdir -p $(BUILD)/npm/native/$$key && cp $(DIST)/lib/$$target/libliter_llm.so $(BUILD)/npm/native/$$key/; \
	done
	# --ignore-scripts: prepack would copy the host's cargo build over the cross-linked ones.
	cd $(BUILD)/npm && $(NPM) pack --ignore-scripts --silent --pack-destination $(DIST)/npm >/dev/null

dist-go: dist-libs
	rm -rf $(DIST)/goproxy
	$(DIST_PY) packaging/go_release.py --module $(GO_MODULE) --version v$(DIST_VERSION) --source bindings/go \
		--archive linux_amd64=$(DIST)/lib/x86_64-unknown-linux-gnu/libliter_llm.a \
		--archive linux_arm64=$(DIST)/lib/aarch64-unknown-linux-gnu/libliter_llm.a \
		--proxy $(DIST)/goproxy

dist-sums: dist-libs dist-python dist-npm dist-go
	cd $(DIST) && find . -type f ! -name SHA256SUMS | sort | sed 's|^\./||' | xargs sha256sum > SHA256SUMS
	@du -sh $(DIST)/lib/* $(DIST)/python/* $(DIST)/npm/* $(DIST)/goproxy/$(GO_MODULE)/@v/*.zip

## check-dist: readelf and auditwheel checks of dist/ (GLIBC <= 2.17, allowed NEEDED only, manylinux2014)
check-dist:
	packaging/check-elf.sh $(GLIBC_FLOOR) $(DIST)/lib/*/libliter_llm.so
	for wheel in $(DIST)/python/*.whl; do $(DIST_VENV)/bin/auditwheel show $$wheel | tee $(BUILD)/auditwheel.txt; \
		tr -s ' \n' '  ' < $(BUILD)/auditwheel.txt | grep -q 'is consistent with the following platform tag: "manylinux_2_17_' || \
			{ echo "auditwheel does not accept $$wheel as manylinux2014 (manylinux_2_17)"; exit 1; }; done
	cd $(DIST) && sha256sum --quiet -c SHA256SUMS

## test-dist: install each artifact of dist/ in a clean place (no Rust, no source tree) and run it
test-dist: build
	packaging/test-dist.sh

## go-lib: the host's static library and the header where the Go package's cgo flags look (in-repo)
go-lib: build
	mkdir -p bindings/go/lib/$(HOST_GO_PLATFORM)
	cp $(RELEASE)/libliter_llm.a bindings/go/lib/$(HOST_GO_PLATFORM)/libliter_llm.a
