#!/usr/bin/env bats
# GPU-to-core affinity from hwloc (issue 12): a worker given GPUs binds to
# the cores hwloc puts near them, not to its per-index cores.  The real
# hwloc loads a topology from XML (HWLOC_XMLFILE; HWLOC_THISSYSTEM=1 so
# that binding applies to this machine): 2 packages of one core each
# (PUs 0 and 1, which every machine has), two CUDA GPUs behind a PCI
# bridge of package 1.  No Slurm: the GPUs come from hwloc.

load helpers

setup() {
    common_setup
    export HWLOC_XMLFILE="$DATUMRUN_SRC/tests/integration/data/topo-2pkg-gpus-on-pkg1.xml"
    export HWLOC_THISSYSTEM=1
    unset CUDA_VISIBLE_DEVICES ROCR_VISIBLE_DEVICES SLURM_STEP_GPUS SLURM_JOB_GPUS
    if [ "$(id -u)" -eq 0 ]; then
        export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    fi
}
teardown() { common_teardown; }

# What a datum's command sees: "CUDA_VISIBLE_DEVICES cpus".
SEEN='sleep 0.2; echo "${CUDA_VISIBLE_DEVICES:-none} $(taskset -cp $$ | sed "s/.*: //")" > "$DATUMRUN_OUT/$(basename "$in")"'

@test "info lists the GPUs hwloc finds, with the CPUs near each" {
    run dr info
    [ "$status" -eq 0 ]
    [[ "$output" =~ "topology:  2 packages, 1 NUMA node, 2 cores, 2 PUs" ]]
    [[ "$output" =~ "gpus:      2 (from hwloc): 0 near CPUs 1, 1 near CPUs 1" ]]
    run dr info --json
    [ "$(pyget "$output" 'j["gpus_source"]')" = hwloc ]
}

@test "workers with GPUs on package 1 are bound to package 1's core" {
    mkdir repo
    for i in 1 2 3 4; do echo "$i" > "repo/f$i"; done
    spec s.json near "$SEEN" "$(pfs in repo '/*')" \
        '{"parallelism_spec": {"constant": 2}, "resource_requests": {"gpu": 1}}'
    run dr run s.json -v
    [ "$status" -eq 0 ]
    # The workers' reported binding: both near their GPU, on CPU 1 (per
    # index, worker 0 would take core 0 of package 0).
    [[ "$output" =~ "worker 0 bound to CPUs 1, near its GPUs" ]]
    [[ "$output" =~ "worker 1 bound to CPUs 1, near its GPUs" ]]
    # And what the commands inherited: one GPU each, disjoint, CPU 1.
    cat near/*
    [ "$(cut -d' ' -f2 near/* | sort -u)" = 1 ]
    [ "$(cut -d' ' -f1 near/* | sort -u | tr '\n' ' ')" = "0 1 " ]
    # Without GPUs the same workers bind per index: cores 0 and 1.
    spec p.json plain "$SEEN" "$(pfs in repo '/*')" '{"parallelism_spec": {"constant": 2}}'
    run dr run p.json -v
    [ "$status" -eq 0 ]
    [[ "$output" =~ "worker 0 bound to CPUs 0" ]]
    [ "$(cut -d' ' -f2 plain/* | sort -u | tr '\n' ' ')" = "0 1 " ]
}

@test "GPUs given to the step win over hwloc: CUDA_VISIBLE_DEVICES, ROCR_VISIBLE_DEVICES (AMD)" {
    run env CUDA_VISIBLE_DEVICES=5,7 "$DATUMRUN" info
    [[ "$output" =~ "gpus:      2 (from CUDA_VISIBLE_DEVICES): 5, 7" ]]
    mkdir repo
    for i in 1 2 3 4; do echo "$i" > "repo/f$i"; done
    # AMD: the commands see ROCR_ and HIP_VISIBLE_DEVICES too.
    spec a.json amd 'echo "${CUDA_VISIBLE_DEVICES:-none} ${ROCR_VISIBLE_DEVICES:-none} ${HIP_VISIBLE_DEVICES:-none} ${CUDA_DEVICE_ORDER:-none}" > "$DATUMRUN_OUT/$(basename "$in")"' \
        "$(pfs in repo '/*')" '{"parallelism_spec": {"constant": 2}, "resource_requests": {"gpu": {"type": "amd", "number": 1}}}'
    run env ROCR_VISIBLE_DEVICES=2,3 "$DATUMRUN" run a.json -q
    [ "$status" -eq 0 ]
    cat amd/*
    [ "$(sort -u amd/* | tr '\n' ';')" = "2 2 2 PCI_BUS_ID;3 3 3 PCI_BUS_ID;" ]
}

@test "without an allocation or hwloc's GPUs: /proc/driver/nvidia/gpus, CPUs from sysfs" {
    [ "$(id -u)" -eq 0 ] || skip "needs root for a private mount namespace (CI runs as root)"
    unset HWLOC_XMLFILE HWLOC_THISSYSTEM
    # A private mount namespace: two "driver" entries, the first by bus id
    # with its CPUs in sysfs.
    run unshare -m --propagation private sh -c '
        mount -t tmpfs t /proc/driver &&
        mkdir -p /proc/driver/nvidia/gpus/0000:af:00.0 /proc/driver/nvidia/gpus/0000:3b:00.0 &&
        mount -t tmpfs t /sys/bus/pci/devices &&
        mkdir -p /sys/bus/pci/devices/0000:3b:00.0 &&
        echo 1 > /sys/bus/pci/devices/0000:3b:00.0/local_cpulist &&
        exec "$1" info' sh "$DATUMRUN"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" =~ "gpus:      2 (from /proc/driver/nvidia/gpus): 0 near CPUs 1, 1" ]]
}
