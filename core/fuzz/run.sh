#!/usr/bin/env bash
# Builds the fuzz targets with libFuzzer on the stable toolchain (sanitizer coverage through
# `-C passes=sancov-module`, the flags cargo-fuzz passes, without a sanitizer) and runs each
# target for FUZZ_SECONDS (default 60) over its checked-in seed corpus (corpus/<target>/, read
# only) and a working corpus in build/fuzz/. Prints the executions per target and writes them to
# build/fuzz/results.json. Fails when a target crashes; the input is saved in
# build/fuzz/artifacts/<target>/ (turn it into a unit test next to the code it broke).
#
#   core/fuzz/run.sh                 every target (src/bin/*.rs)
#   core/fuzz/run.sh sse config      some of them
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${FUZZ_OUT:-$root/build/fuzz}
seconds=${FUZZ_SECONDS:-60}
triple=$(rustc -vV | sed -n 's/^host: //p')

export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
(cd "$here" && cargo build --release --locked --target "$triple" --bins)

if [ $# -gt 0 ]; then targets=("$@"); else
    targets=(); for f in "$here"/src/bin/*.rs; do targets+=("$(basename "$f" .rs)"); done
fi
mkdir -p "$out"
results=()
failed=0
for target in "${targets[@]}"; do
    mkdir -p "$out/corpus/$target" "$out/artifacts/$target" "$here/corpus/$target"
    log="$out/$target.log"
    set +e
    "$here/target/$triple/release/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -max_len=65536 -print_final_stats=1 -artifact_prefix="$out/artifacts/$target/" \
        "$out/corpus/$target" "$here/corpus/$target" >"$log" 2>&1
    status=$?
    set -e
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
    crashes=$(find "$out/artifacts/$target" -type f | wc -l)
    echo "fuzz: $target: ${runs:-0} executions in ${seconds}s, exit $status, $crashes saved inputs"
    results+=("{\"target\": \"$target\", \"seconds\": $seconds, \"executions\": ${runs:-0}, \"exit\": $status, \"crashes\": $crashes}")
    if [ "$status" -ne 0 ] || [ "$crashes" -ne 0 ]; then
        failed=1
        tail -n 40 "$log"
    fi
done
(IFS=,; echo "[${results[*]}]") >"$out/results.json"
exit $failed
