#!/usr/bin/env bash
# image.sh: what a container per datum costs.  N no-op datums on 2
# workers, side by side and alternating, REPS times each: without an image,
# and with transform.image run by podman (a local busybox image, podman
# configured privately as in tests/integration/podman.bash).  Prints wall
# times, the per-datum cost of each and the difference.
#   bench/image.sh [BUILD_DIR] [N] [REPS]
set -euo pipefail
BUILD=${1:-build}
N=${2:-40}
REPS=${3:-3}
SRC=$(cd "$(dirname "$0")/.." && pwd)
DR=$(cd "$BUILD" && pwd)/datumrun
W=$(mktemp -d /tmp/datumrun-bench-image.XXXXXX)
# shellcheck source=../tests/integration/podman.bash
. "$SRC/tests/integration/podman.bash"
trap 'podman_teardown "$W/podman"; rm -rf "$W"' EXIT
podman_setup "$W/podman"
podman_image "$W/podman" localhost/datumrun-bench:1
mkdir -p "$W/repo"
(cd "$W/repo" && seq -f "d%05g" 1 "$N" | xargs touch)
for mode in plain image; do
    img=""
    [ $mode = image ] && img=', "image": "localhost/datumrun-bench:1", "image_runtime": "podman"'
    cat > "$W/$mode.json" <<JSON
{"pipeline": {"name": "$mode"}, "transform": {"cmd": ["true"]$img},
 "input": {"pfs": {"name": "in", "repo": "repo", "glob": "/*"}},
 "parallelism_spec": {"constant": 2}}
JSON
done
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }
: > "$W/plain.t"; : > "$W/image.t"
for r in $(seq 1 "$REPS"); do
    for mode in plain image; do
        rm -rf "$W/.datumrun" "$W/$mode"
        t0=$(now)
        "$DR" run "$W/$mode.json" -q --reprocess >/dev/null
        t1=$(now)
        echo "$t1 - $t0" | bc >> "$W/$mode.t"
    done
done
p=$(median < "$W/plain.t"); i=$(median < "$W/image.t")
echo "datums=$N workers=2 reps=$REPS runtime=podman $(podman --version | cut -d' ' -f3) ($(grep -o 'runtime = "[a-z]*"' "$W/podman/containers.conf"))"
echo "no image  wall s: $(tr '\n' ' ' < "$W/plain.t")(median $p)"
echo "podman    wall s: $(tr '\n' ' ' < "$W/image.t")(median $i)"
echo "per datum, 2 workers: no image $(echo "scale=4; $p / $N" | bc) s, podman $(echo "scale=4; $i / $N" | bc) s"
echo "container start-up per datum (one worker's view): $(echo "scale=3; 2 * ($i - $p) / $N" | bc) s"
