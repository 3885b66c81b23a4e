#!/usr/bin/env bash
# dispatch_nodes.sh: 10,000 no-op datums (`true`) on 3 workers of the local
# Slurm cluster (slurm/cluster.sh up --nodes 3), side by side, alternating,
# REPS times each:
#   1node   sbatch -N 1, srun --mpi=pmix: rank 0 and the 3 workers on one node
#   3nodes  sbatch -N 3, srun --mpi=pmix: the workers on 3 nodes (TCP between)
#   mpirun  sbatch -N 3, Open MPI's mpirun inside the allocation (its orteds
#           started through Slurm, one per node)
# Prints each wall time (the datumrun run only, measured inside the job) and
# the medians' ratios to 1node.
#   bench/dispatch_nodes.sh [BUILD_DIR] [N] [REPS]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}; N=${2:-10000}; REPS=${3:-3}
DR=$(cd "$BUILD" && pwd)/datumrun
# Every node must see the work folder (a node's /tmp is its own).
W=$(mktemp -d /var/tmp/datumrun-bench-nodes.XXXXXX)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/repo"
(cd "$W/repo" && seq -f "d%05g" 1 "$N" | xargs touch)
cat > "$W/noop.json" <<JSON
{"pipeline": {"name": "noop"}, "transform": {"cmd": ["true"]},
 "input": {"pfs": {"name": "in", "repo": "repo", "glob": "/*"}},
 "parallelism_spec": {"constant": 3}}
JSON
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
run_one() { # how nodes launcher
    local how=$1 nodes=$2 launcher=$3
    rm -rf "$W/.datumrun" "$W/noop"
    cat > "$W/job.sh" <<JOB
#!/bin/bash
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
t0=\$(date +%s.%N)
$launcher "$DR" run "$W/noop.json" -q --reprocess
t1=\$(date +%s.%N)
echo "wall \$(echo "\$t1 - \$t0" | bc)"
JOB
    sbatch --wait --quiet -N "$nodes" -n 4 --overcommit -o "$W/$how.out" "$W/job.sh"
    grep '^wall ' "$W/$how.out" | cut -d' ' -f2 >> "$W/$how.t"
}
for h in 1node 3nodes mpirun; do : > "$W/$h.t"; done
for r in $(seq 1 "$REPS"); do
    run_one 1node 1 "srun --mpi=pmix -n 4 --overcommit"
    run_one 3nodes 3 "srun --mpi=pmix -n 4 --overcommit"
    run_one mpirun 3 "mpirun -n 4 --oversubscribe"
done
echo "datums=$N workers=3 reps=$REPS"
base=$(median < "$W/1node.t")
for h in 1node 3nodes mpirun; do
    m=$(median < "$W/$h.t")
    echo "$h wall s: $(tr '\n' ' ' < "$W/$h.t")(median $m, x$(echo "scale=3; $m / $base" | bc) of 1node)"
done
