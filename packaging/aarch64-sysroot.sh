#!/usr/bin/env bash
# Makes an aarch64 sysroot with CPython 3.11 from Debian's arm64 packages (downloaded with
# apt-get download, unpacked with dpkg -x, never installed) and the C library of libc6-arm64-cross,
# for running the aarch64 wheel under qemu-aarch64. Idempotent: an existing sysroot is kept.
#
# Usage: packaging/aarch64-sysroot.sh DIR     (needs `dpkg --add-architecture arm64`: packaging/toolchain.sh)
set -euo pipefail

SYSROOT=$1
[ -x "$SYSROOT/usr/bin/python3.11" ] && [ -e "$SYSROOT/lib/ld-linux-aarch64.so.1" ] && exit 0

packages=(python3.11-minimal libpython3.11-minimal libpython3.11-stdlib libexpat1 zlib1g libffi8 libssl3
    libbz2-1.0 liblzma5 libuuid1 libsqlite3-0 libncursesw6 libtinfo6 libreadline8 libdb5.3 libgdbm6 libnsl2 libtirpc3
    libcrypt1 libgssapi-krb5-2 libkrb5-3 libk5crypto3 libcom-err2 libkrb5support0 libkeyutils1)
rm -rf "$SYSROOT.partial"
mkdir -p "$SYSROOT.partial/debs"
(cd "$SYSROOT.partial/debs" && apt-get download -qq "${packages[@]/%/:arm64}")
for deb in "$SYSROOT.partial"/debs/*.deb; do dpkg -x "$deb" "$SYSROOT.partial"; done
rm -rf "$SYSROOT.partial/debs"
# The cross C library (ld.so, libc, libm, ...) at the paths an aarch64 program asks for.
mkdir -p "$SYSROOT.partial/lib"
cp -a /usr/aarch64-linux-gnu/lib/. "$SYSROOT.partial/lib/"
[ -x "$SYSROOT.partial/usr/bin/python3.11" ] || { echo "aarch64-sysroot: python3.11 is missing after unpacking" >&2; exit 1; }
rm -rf "$SYSROOT"
mv "$SYSROOT.partial" "$SYSROOT"
echo "aarch64-sysroot: CPython 3.11 for aarch64 in $SYSROOT"
