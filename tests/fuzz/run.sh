#!/usr/bin/env bash
# run.sh HARNESS SEED_TEST CORPUS_ROOT NAME SECONDS: one fuzz test.
# Writes the unit test's table inputs as seeds (DATUMRUN_FUZZ_SEEDS), then
# fuzzes for SECONDS under ASan+UBSan, keeping what it finds new in
# CORPUS_ROOT/NAME-work.  Fails on any crash, leak, hang or sanitizer
# report; the reproducer is left as crash-*/leak-*/timeout-* in the
# corpus root.  Prints libFuzzer's final statistics (executions).
set -euo pipefail
harness=$1 seed_test=$2 root=$3 name=$4 secs=$5
seeds="$root/seeds"
mkdir -p "$root" "$root/$name-work"
rm -rf "$seeds/$name"
(cd "$root" && DATUMRUN_FUZZ_SEEDS="$seeds" "$seed_test" >/dev/null 2>&1) || true
[ -d "$seeds/$name" ] || { echo "run.sh: $seed_test wrote no seeds for $name" >&2; exit 1; }
echo "fuzz/$name: $(ls "$seeds/$name" | wc -l) seeds from $(basename "$seed_test"), ${secs}s"
cd "$root"
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
"$harness" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -max_len=65536 -print_final_stats=1 -artifact_prefix="$root/$name-" \
    "$root/$name-work" "$seeds/$name" > "$root/$name.log" 2>&1 && rc=0 || rc=$?
grep -E '^(stat::|#[0-9]+ +DONE|INFO: seed corpus)' "$root/$name.log" || true
if [ "$rc" -ne 0 ] || ls "$root/$name-"crash-* "$root/$name-"leak-* "$root/$name-"timeout-* \
       "$root/$name-"oom-* >/dev/null 2>&1; then
    tail -n 60 "$root/$name.log" >&2
    echo "fuzz/$name: FOUND a problem (exit $rc); reproduce with: $harness $root/$name-<artifact>" >&2
    exit 1
fi
