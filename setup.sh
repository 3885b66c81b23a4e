#!/usr/bin/env bash
# setup.sh: install what datumrun needs (Debian 12, as root), build it, and
# run the example or the test suite.  Idempotent: a second run only builds.
#
#   ./setup.sh demo     install, build, run the example pipelines
#   ./setup.sh test     install, build with -Werror, start the local Slurm,
#                       run the whole suite, then once more under ASan+UBSan
#   ./setup.sh build    install and build only
#   ./setup.sh deps     install the Debian packages only
#   ./setup.sh fuzz     build the libFuzzer harnesses with clang and run each
#                       for DATUMRUN_FUZZ_SECONDS (default 20)
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD

PACKAGES=(build-essential cmake pkg-config
          openmpi-bin libopenmpi-dev libhdf5-dev hdf5-tools
          libhwloc-dev hwloc libpmix-dev
          slurm-wlm slurm-client munge libslurm-dev
          libjansson-dev libxxhash-dev
          libcmocka-dev bats python3-h5py python3-numpy chromium
          parallel gnuplot-nox time procps util-linux bc
          iproute2
          man-db groff-base
          clang libclang-rt-14-dev
          podman runc catatonit busybox-static)

say() { printf '\033[1m== %s\033[0m\n' "$*"; }

deps() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        return 0
    fi
    say "installing ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup.sh: installing packages needs root (or: sudo apt-get install ${missing[*]})" >&2
        exit 2
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

build() { # build DIR [cmake options...]
    local dir=$1; shift
    cmake -S "$ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
    cmake --build "$dir" -j"$(nproc)" 2>&1 | grep -E "warning:|error:|Error [0-9]|\*\*\*" || true
    test -x "$dir/datumrun" || { echo "setup.sh: build failed in $dir" >&2; exit 2; }
}

demo() {
    deps
    build "$ROOT/build" -DDATUMRUN_WERROR=ON
    local ex="$ROOT/examples/states"
    say "per_city: one datum per city file (glob /*/*)"
    "$ROOT/build/datumrun" run "$ex/per_city.json"
    say "per_state: one datum per state folder (glob /*)"
    "$ROOT/build/datumrun" run "$ex/per_state.json"
    say "outputs"
    (cd "$ex" && find per_city per_state -type f | sort | sed 's/^/  /')
    echo "  per_state totals: $(cat "$ex"/per_state/*.txt | tr '\n' ';')"
    echo "Run it again: unchanged datums are skipped. Jobs: build/datumrun list-job $ex/per_city.json"
}

run_suite() { # run_suite BUILD_DIR LABEL
    local dir=$1 label=$2
    say "tests: $label"
    # Two at a time: the tests mostly wait (tests/CMakeLists.txt); the
    # Slurm ones take turns on the one cluster.
    (cd "$dir" && ctest --output-on-failure --timeout 900 -j2)
}

# The libFuzzer harnesses (tests/fuzz/README), each for a short fixed time
# under ASan+UBSan; clang builds them in build-fuzz.
fuzz_all() {
    if ! command -v clang >/dev/null; then
        echo "setup.sh: clang is missing (PACKAGES installs it)" >&2
        return 1
    fi
    say "tests: fuzzing (${DATUMRUN_FUZZ_SECONDS:-20}s per harness)"
    CC=clang cmake -S "$ROOT" -B "$ROOT/build-fuzz" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DDATUMRUN_FUZZ=ON -DDATUMRUN_FUZZ_SECONDS="${DATUMRUN_FUZZ_SECONDS:-20}" >/dev/null
    cmake --build "$ROOT/build-fuzz" -j"$(nproc)" --target fuzzers 2>&1 |
        grep -E "error:|Error [0-9]" || true
    (cd "$ROOT/build-fuzz" && ctest --output-on-failure --timeout 900 -L fuzz -V |
        grep -E "^[0-9]+: (fuzz/|stat::number_of_executed|stat::new_units)|tests passed|FAILED|FOUND" ;
        exit "${PIPESTATUS[0]}")
}

test_all() {
    deps
    say "local Slurm cluster"
    # Three nodes, each in its own namespaces (docs/cluster.md).
    bash "$ROOT/slurm/cluster.sh" up --nodes 3
    build "$ROOT/build" -DDATUMRUN_WERROR=ON
    local rc=0
    run_suite "$ROOT/build" "warnings as errors" || rc=1
    build "$ROOT/build-asan" -DDATUMRUN_WERROR=ON -DDATUMRUN_SANITIZE=ON
    # Unit tests run without MPI and check leaks too (the suppressions cover
    # HDF5, PMIx and hwloc).  MPI processes keep Open MPI's and PMIx's
    # allocations of dlopen'ed plugins until exit, reported as leaks from
    # unknown modules, so the integration pass checks memory errors only.
    export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
    say "tests: ASan+UBSan"
    (cd "$ROOT/build-asan" &&
        ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 \
        LSAN_OPTIONS=suppressions=$ROOT/tests/sanitizer/lsan.supp:print_suppressions=0 \
            ctest --output-on-failure --timeout 900 -L unit) || rc=1
    (cd "$ROOT/build-asan" &&
        ASAN_OPTIONS=abort_on_error=1:detect_leaks=0 \
            ctest --output-on-failure --timeout 900 -j2 -L integration) || rc=1
    fuzz_all || rc=1
    return $rc
}

case "${1:-}" in
    deps) deps ;;
    build) deps; build "$ROOT/build" -DDATUMRUN_WERROR=ON ;;
    demo) demo ;;
    test) test_all ;;
    fuzz) deps; fuzz_all ;;
    *) echo "usage: $0 demo|test|build|deps|fuzz" >&2; exit 2 ;;
esac
