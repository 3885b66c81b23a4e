#!/usr/bin/env bash
# dispatch_slurm.sh: the dispatch benchmark (bench/dispatch.sh) inside an
# sbatch allocation, launched with srun --mpi=pmix, and the mpirun figure
# right after it, for comparison.  Needs the local cluster (slurm/cluster.sh up).
#   bench/dispatch_slurm.sh [BUILD_DIR] [N] [REPS]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}; N=${2:-10000}; REPS=${3:-3}
out=$(mktemp /tmp/datumrun-bench-slurm.XXXXXX)
echo "== srun --mpi=pmix inside sbatch"
sbatch --wait --quiet -n 3 --overcommit -o "$out" \
    --wrap "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 bench/dispatch.sh $BUILD $N $REPS srun"
cat "$out"; rm -f "$out"
echo "== mpirun (datumrun's own launcher)"
bench/dispatch.sh "$BUILD" "$N" "$REPS" mpirun
