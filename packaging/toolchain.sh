#!/usr/bin/env bash
# Installs what `make dist` and `make test-dist` need; safe to run again (it only adds what is missing).
#
#   - Debian's rustc-web (1.96) with the arm64 standard library (libstd-rust-web-dev:arm64, through
#     dpkg's multiarch): rustup cannot download target standard libraries on these machines, so the
#     aarch64 build uses RUSTC=/usr/bin/rustc. The x86_64 build keeps the rustup toolchain.
#   - qemu-user and libc6-arm64-cross: the aarch64 artifacts run under qemu-aarch64 in the tests.
#   - A project-local venv (.venv-dist) with zig (PyPI ziglang), cargo-zigbuild and auditwheel, pinned:
#     zig is the cross-linker that links against glibc 2.17 for both architectures.
#
# Usage: packaging/toolchain.sh [VENV_DIR]    (root; Debian 12)
set -euo pipefail

VENV=${1:-"$(cd "$(dirname "$0")/.." && pwd)/.venv-dist"}
PYTHON=${PYTHON:-python3}

# Pinned: the tools whose output ships.
ZIGLANG_VERSION=0.17.1
CARGO_ZIGBUILD_VERSION=0.24.1
AUDITWHEEL_VERSION=6.8.2
SETUPTOOLS_VERSION=80.9.0
WHEEL_VERSION=0.45.1
CFFI_VERSION=2.0.0
RUSTC_WEB_MIN=1.96

apt_packages=(rustc-web "libstd-rust-web-dev:arm64" qemu-user libc6-arm64-cross binutils file)

missing=()
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    dpkg --add-architecture arm64
    missing+=(arm64-architecture)
fi
for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "toolchain: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_packages[@]}"
fi
found=$(/usr/bin/rustc --version | awk '{print $2}')
if ! printf '%s\n%s\n' "$RUSTC_WEB_MIN" "$found" | sort -V -C; then
    echo "toolchain: /usr/bin/rustc is $found; the aarch64 build needs rustc-web >= $RUSTC_WEB_MIN (bookworm-security)" >&2
    exit 1
fi
[ -d /usr/lib/rustlib/aarch64-unknown-linux-gnu/lib ] || {
    echo "toolchain: /usr/lib/rustlib/aarch64-unknown-linux-gnu/lib is missing (libstd-rust-web-dev:arm64)" >&2
    exit 1
}

stamp="$VENV/.toolchain-$ZIGLANG_VERSION-$CARGO_ZIGBUILD_VERSION-$AUDITWHEEL_VERSION-$SETUPTOOLS_VERSION-$WHEEL_VERSION-$CFFI_VERSION"
if [ ! -f "$stamp" ]; then
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet \
        "ziglang==$ZIGLANG_VERSION" "cargo-zigbuild==$CARGO_ZIGBUILD_VERSION" "auditwheel==$AUDITWHEEL_VERSION" \
        "setuptools==$SETUPTOOLS_VERSION" "wheel==$WHEEL_VERSION" "cffi==$CFFI_VERSION"
    rm -f "$VENV"/.toolchain-*
    touch "$stamp"
fi
echo "toolchain: zig $("$VENV/bin/python" -m ziglang version), $("$VENV/bin/cargo-zigbuild" --version), rustc-web $found, $(qemu-aarch64 --version | head -1)"
