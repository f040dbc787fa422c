#!/usr/bin/env bash
# Installs the artifacts of dist/ as a user would, in a fresh directory outside the source tree,
# with no Rust toolchain on the PATH, and runs each: the quickstart against the built-in `mock`
# provider and one call through the OpenAI provider to the mock upstream.
#
#   Python: pip install of the x86_64 wheel into a fresh venv; pip install of the sdist (built
#           from source by cargo: the one step that may use Rust, as a user without a wheel would)
#   Node:   npm install of the tarball into an empty project
#   Go:     go get of the release module from dist/goproxy into an empty module (cgo, static link)
#   aarch64 under qemu-aarch64: the C smoke program against the aarch64 .so, the aarch64 wheel's
#           program with an aarch64 CPython, and the Go program cross-built for linux/arm64
#
# Usage: packaging/test-dist.sh [--no-sdist]    (after make dist; make test-dist runs it)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIST=$ROOT/dist
MOCK_UPSTREAM=${LITER_LLM_MOCK_UPSTREAM:-$ROOT/core/target/release/liter-llm-mock-upstream}
DIST_VENV=${DIST_VENV:-$ROOT/.venv-dist}
VERSION=$(cat "$DIST/VERSION")
SDIST=1
[ "${1:-}" = "--no-sdist" ] && SDIST=0

WORK=$(mktemp -d /tmp/liter-llm-install.XXXXXX)
MOCK_FIFO=$WORK/mock.stdin
cleanup() {
    exec 9>&- 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "test-dist: FAIL: $*" >&2; echo "test-dist: $passed passed, 1 failed"; exit 1; }
passed=0
step() { echo; echo "== $*"; }

# Only the artifacts and the test programs go to the work directory.
mkdir -p "$WORK/home" "$WORK/tmp" "$WORK/bin"
cp -r "$DIST" "$WORK/dist"
cp "$ROOT/packaging/install-test/"{mock_call.py,mock_call.js,main.go,mock_upstream.py} "$WORK/"
cp "$ROOT/examples/quickstart.py" "$ROOT/core/liter-llm-ffi/tests/c/smoke.c" "$WORK/"
cp "$MOCK_UPSTREAM" "$WORK/bin/liter-llm-mock-upstream"

# The PATH of every step: the language tools and the system's, with cargo and rustc shadowed by
# stand-ins that fail, so any use of a Rust toolchain fails the test (Debian's rustc-web is in
# /usr/bin on a machine that ran `make dist`). HOME is empty: no ~/.cargo, ~/.npmrc, ~/.config/go.
for tool in cargo rustc rustup; do
    printf '#!/bin/sh\necho "test-dist: %s was called; the install must not need a Rust toolchain" >&2\nexit 97\n' "$tool" > "$WORK/bin/$tool"
    chmod +x "$WORK/bin/$tool"
done
python_bin=$(dirname "$(python3 -c 'import os, sys; print(os.path.realpath(sys.executable))')")
node_bin=$(dirname "$(readlink -f "$(command -v node)")")
npm_bin=$(dirname "$(command -v npm)")
go_bin=$(dirname "$(readlink -f "$(command -v go)")")
CLEAN_PATH="$WORK/bin:$python_bin:$node_bin:$npm_bin:$go_bin:/usr/bin:/bin"
pass_env=()
for name in $(compgen -e); do
    case $name in PIP_*|NODE_EXTRA_CA_CERTS|SSL_CERT_FILE|SSL_CERT_DIR|REQUESTS_CA_BUNDLE) pass_env+=("$name=${!name}") ;; esac
done
clean() {
    env -i "${pass_env[@]}" HOME="$WORK/home" TMPDIR="$WORK/tmp" LANG=C.UTF-8 PATH="$CLEAN_PATH" \
        npm_config_update_notifier=false "$@"
}

# One mock upstream for every step, one scripted session per program; it stops when fd 9 closes.
mkfifo "$MOCK_FIFO"
clean python3 "$WORK/mock_upstream.py" "$WORK/bin/liter-llm-mock-upstream" \
    python sdist node go qemu-python qemu-go < "$MOCK_FIFO" > "$WORK/mock.url" &
exec 9> "$MOCK_FIFO"
for _ in $(seq 100); do [ -s "$WORK/mock.url" ] && break; sleep 0.1; done
MOCK_URL=$(head -1 "$WORK/mock.url")
[ -n "$MOCK_URL" ] || fail "the mock upstream did not start"
echo "mock upstream: $MOCK_URL"

# Runs a program of the install test against session $1 and checks what it printed.
# $2: the file the library must have been mapped from (a pattern), "" for a static link.
expect_answers() {
    local session=$1 library_prefix=$2 out=$3
    cat "$out"
    grep -qx "quickstart: This is a mock response from liter-llm." "$out" || fail "$session: no quickstart answer from the mock provider"
    grep -qx "upstream: hello from $session (7 tokens)" "$out" || fail "$session: no answer from the mock upstream"
    if [ -n "$library_prefix" ]; then
        grep -qx "library: $library_prefix" "$out" || fail "$session: the library was not loaded from $library_prefix"
    fi
    clean python3 "$WORK/mock_upstream.py" --journal "$MOCK_URL" "$session" || fail "$session: the mock upstream did not see exactly one chat request"
    passed=$((passed + 1))
}
upstream_env() { echo "OPENAI_BASE_URL=$MOCK_URL/s/$1" "OPENAI_API_KEY=sk-test-install"; }

step "Python: pip install the manylinux2014 x86_64 wheel into a fresh venv"
clean python3 -m venv "$WORK/venv"
clean "$WORK/venv/bin/pip" install --quiet "$WORK/dist/python/liter_llm-$VERSION-py3-none-manylinux2014_x86_64.whl"
(cd "$WORK" && clean "$WORK/venv/bin/python" quickstart.py)
(cd "$WORK" && clean $(upstream_env python) "$WORK/venv/bin/python" mock_call.py) > "$WORK/python.out"
expect_answers python "$WORK/venv/lib/python3.*/site-packages/liter_llm/libliter_llm.so" "$WORK/python.out"

if [ "$SDIST" = 1 ]; then
    step "Python: pip install the sdist (cargo builds the library from the sources it carries)"
    clean python3 -m venv "$WORK/venv-sdist"
    cargo_dir=$(dirname "$(readlink -f "$(command -v cargo)")")
    # This one step may use Rust: a user without a fitting wheel builds from source. The target
    # directory is a cache outside the work directory, so CI compiles the crates once.
    env -i "${pass_env[@]}" HOME="$WORK/home" TMPDIR="$WORK/tmp" LANG=C.UTF-8 \
        PATH="$cargo_dir:$python_bin:/usr/bin:/bin" RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}" \
        CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" CARGO_TARGET_DIR="$ROOT/build/sdist-target" \
        "$WORK/venv-sdist/bin/pip" install --quiet "$WORK/dist/python/liter_llm-$VERSION.tar.gz"
    (cd "$WORK" && clean $(upstream_env sdist) "$WORK/venv-sdist/bin/python" mock_call.py) > "$WORK/sdist.out"
    expect_answers sdist "$WORK/venv-sdist/lib/python3.*/site-packages/liter_llm/libliter_llm.so" "$WORK/sdist.out"
fi

step "Node: npm install the tarball into an empty project"
mkdir -p "$WORK/node-app"
(cd "$WORK/node-app" && clean npm init -y >/dev/null && clean npm install --no-audit --no-fund --loglevel=error "$WORK/dist/npm/liter-llm-$VERSION.tgz")
cp "$WORK/mock_call.js" "$WORK/node-app/"
(cd "$WORK/node-app" && clean $(upstream_env node) node mock_call.js) > "$WORK/node.out"
expect_answers node "$WORK/node-app/node_modules/liter-llm/native/linux-x64/libliter_llm.so" "$WORK/node.out"
for key in linux-x64 linux-arm64; do
    [ -f "$WORK/node-app/node_modules/liter-llm/native/$key/libliter_llm.so" ] || fail "the npm package lacks native/$key"
done

step "Go: go get the release module from dist/goproxy into an empty module"
mkdir -p "$WORK/go-app"
cp "$WORK/main.go" "$WORK/go-app/"
# The module itself comes from dist/goproxy (the file proxy answers 404 for anything else); its
# public dependencies (go.opentelemetry.io/otel/trace) from the Go module proxy, as for a user.
go_env=(GOPROXY="file://$WORK/dist/goproxy,https://proxy.golang.org" GOSUMDB=off GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=1
    GOPATH="$WORK/gopath" GOCACHE="${GOCACHE_DIST:-$ROOT/build/go-cache-dist}")
(cd "$WORK/go-app" && clean "${go_env[@]}" go mod init example.com/app >/dev/null 2>&1 &&
    clean "${go_env[@]}" go get "github.com/liter-llm/liter-llm/bindings/go@v$VERSION" &&
    clean "${go_env[@]}" go build -o app . )
(cd "$WORK/go-app" && clean $(upstream_env go) ./app) > "$WORK/go.out"
expect_answers go "" "$WORK/go.out"
grep -qx "library: $VERSION" "$WORK/go.out" || fail "go: the linked library is not version $VERSION"
readelf -d "$WORK/go-app/app" | grep -q "libliter_llm" && fail "go: the program needs a shared libliter_llm; it must be linked statically"

step "aarch64 under qemu-aarch64: the C smoke program against dist's aarch64 library"
ZIG=("$DIST_VENV/bin/python" -m ziglang)
A64=$WORK/dist/lib/aarch64-unknown-linux-gnu
mkdir -p "$WORK/c-arm64"
cp "$A64/libliter_llm.so" "$WORK/c-arm64/"
"${ZIG[@]}" cc -target aarch64-linux-gnu.2.17 -std=c11 -Wall -Wextra -Werror -I"$WORK/dist/include" "$WORK/smoke.c" \
    -L"$WORK/c-arm64" -lliter_llm -lpthread -Wl,-rpath,'$ORIGIN' -o "$WORK/c-arm64/smoke"
file "$WORK/c-arm64/smoke" | grep -q "ARM aarch64" || fail "the smoke program is not an aarch64 program"
# Debian's cross C library, with its own library path: the host's ld.so.cache may name the
# multiarch arm64 libc (of another patch release) that must not mix with this ld.so.
QEMU=(qemu-aarch64 -L /usr/aarch64-linux-gnu -E LD_LIBRARY_PATH=/usr/aarch64-linux-gnu/lib)
clean "${QEMU[@]}" "$WORK/c-arm64/smoke" | tee "$WORK/c-arm64.out"
grep -qx "C ABI smoke: all checks passed" "$WORK/c-arm64.out" || fail "the aarch64 smoke program did not pass"
passed=$((passed + 1))

step "aarch64 under qemu-aarch64: the aarch64 wheel with an aarch64 CPython"
SYSROOT=${AARCH64_SYSROOT:-$ROOT/build/aarch64-sysroot}
"$ROOT/packaging/aarch64-sysroot.sh" "$SYSROOT"
site=$WORK/site-arm64
clean "$WORK/venv/bin/pip" install --quiet --target "$site" --no-deps --only-binary=:all: \
    --platform manylinux2014_aarch64 --python-version 3.11 --implementation cp --abi cp311 \
    "cffi==$(clean "$WORK/venv/bin/python" -c 'import importlib.metadata as m; print(m.version("cffi"))')" \
    "$WORK/dist/python/liter_llm-$VERSION-py3-none-manylinux2014_aarch64.whl"
file "$site/liter_llm/libliter_llm.so" | grep -q "ARM aarch64" || fail "the aarch64 wheel does not carry an aarch64 library"
QEMU_PY=(qemu-aarch64 -L "$SYSROOT"
    -E LD_LIBRARY_PATH="$SYSROOT/lib:$SYSROOT/lib/aarch64-linux-gnu:$SYSROOT/usr/lib/aarch64-linux-gnu"
    -E PYTHONHOME="$SYSROOT/usr" -E PYTHONPATH="$site" -E PYTHONNOUSERSITE=1)
(cd "$WORK" && clean "${QEMU_PY[@]}" "$SYSROOT/usr/bin/python3.11" -c 'import platform; print("machine:", platform.machine())') | tee "$WORK/qemu-machine.out"
grep -qx "machine: aarch64" "$WORK/qemu-machine.out" || fail "the Python under qemu is not aarch64"
(cd "$WORK" && clean "${QEMU_PY[@]}" "$SYSROOT/usr/bin/python3.11" quickstart.py)
(cd "$WORK" && clean "${QEMU_PY[@]}" -E "OPENAI_BASE_URL=$MOCK_URL/s/qemu-python" -E OPENAI_API_KEY=sk-test-install \
    "$SYSROOT/usr/bin/python3.11" mock_call.py) > "$WORK/qemu-python.out"
expect_answers qemu-python "$site/liter_llm/libliter_llm.so" "$WORK/qemu-python.out"

step "aarch64 under qemu-aarch64: the Go program cross-built for linux/arm64 from the same module"
(cd "$WORK/go-app" && clean "${go_env[@]}" GOARCH=arm64 CC="$DIST_VENV/bin/python -m ziglang cc -target aarch64-linux-gnu.2.17" \
    go build -o app-arm64 .)
file "$WORK/go-app/app-arm64" | grep -q "ARM aarch64" || fail "go: app-arm64 is not an aarch64 program"
(cd "$WORK/go-app" && clean "${QEMU[@]}" -E "OPENAI_BASE_URL=$MOCK_URL/s/qemu-go" -E OPENAI_API_KEY=sk-test-install ./app-arm64) > "$WORK/qemu-go.out"
expect_answers qemu-go "" "$WORK/qemu-go.out"

echo
echo "test-dist: every artifact installed and answered (python, $([ "$SDIST" = 1 ] && echo "sdist, ")node, go, aarch64 C, aarch64 python, aarch64 go)"
echo "test-dist: $passed passed, 0 failed"
