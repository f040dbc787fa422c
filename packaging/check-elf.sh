#!/usr/bin/env bash
# Fails unless each shared library needs no glibc symbol version above FLOOR and no shared library
# outside the allowlist: the C library and its parts (libc, libm, libpthread, libdl, librt, the
# dynamic loader), which every glibc system has. (libgcc_s is not needed: zig links the unwinder in.)
#
# Usage: packaging/check-elf.sh FLOOR LIB.so...
set -euo pipefail
floor=$1
shift
allowed='^(libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|ld-linux-x86-64\.so\.2|ld-linux-aarch64\.so\.1)$'
status=0
for lib in "$@"; do
    needed=$(readelf -d "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
    versions=$(readelf --dyn-syms -W -V "$lib" | grep -oE 'GLIBC_[0-9]+(\.[0-9]+)+' | sort -uV)
    newest=$(printf '%s\n' "$versions" | tail -1)
    echo "$lib: $(file -b "$lib" | cut -d, -f1-2)"
    echo "  NEEDED: $(echo $needed)"
    echo "  glibc versions: $(echo $versions)"
    for n in $needed; do
        [[ $n =~ $allowed ]] || { echo "  FAIL: needs $n, which is not in the allowlist"; status=1; }
    done
    for v in $versions; do
        if [ "$(printf '%s\n%s\n' "GLIBC_$floor" "$v" | sort -V | tail -1)" != "GLIBC_$floor" ]; then
            echo "  FAIL: needs $v, newer than GLIBC_$floor"
            status=1
        fi
    done
    [ -n "$versions" ] || { echo "  FAIL: no GLIBC symbol versions found: is this a glibc library?"; status=1; }
done
exit $status
