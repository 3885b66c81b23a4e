# podman.bash: a private podman for the image tests.  Nothing global is
# changed: CONTAINERS_CONF and CONTAINERS_STORAGE_CONF point podman at a
# configuration and an image store inside the test's own folder, which the
# teardown removes.
#
# Measured on this machine (Debian 12): crun refuses the cgroup v1 hybrid
# layout, so the runtime is runc; the default ulimits cannot be set here, so
# default_ulimits is empty; without systemd the cgroup manager is cgroupfs
# and events go to a file.  vfs storage needs no kernel overlay support.

# podman_setup DIR: write the configuration under DIR and export it.
podman_setup() {
    local d=$1
    command -v podman >/dev/null || {
        echo "podman is not installed (./setup.sh installs podman, runc, catatonit)" >&2
        return 1
    }
    mkdir -p "$d/graph" "$d/run" "$d/tmp"
    cat > "$d/containers.conf" <<EOF
[containers]
default_ulimits = []
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$d/events.log"
tmp_dir = "$d/tmp"
EOF
    cat > "$d/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$d/graph"
runroot = "$d/run"
EOF
    export CONTAINERS_CONF="$d/containers.conf"
    export CONTAINERS_STORAGE_CONF="$d/storage.conf"
}

# podman_image DIR TAG [VERSION]: import a busybox image named TAG whose
# /bin/imgtool (a program only the image has) prints "imgtool VERSION ARGS".
podman_image() {
    local d=$1 tag=$2 version=${3:-1} root
    root=$(mktemp -d "$d/rootfs.XXXXXX")
    mkdir -p "$root/bin" "$root/tmp"
    cp /bin/busybox "$root/bin/busybox"
    for a in sh ls cat echo wc mkdir cp rm touch tr sed sleep env sort \
             basename readlink id test true false printf head od; do
        ln -s busybox "$root/bin/$a"
    done
    printf '#!/bin/sh\necho "imgtool %s $*"\n' "$version" > "$root/bin/imgtool"
    chmod 755 "$root/bin/imgtool"
    tar -C "$root" -cf "$root.tar" .
    podman import -q "$root.tar" "$tag" >/dev/null
    rm -rf "$root" "$root.tar"
}

podman_teardown() {
    local d=$1
    [ -n "${CONTAINERS_CONF:-}" ] && podman rm -af >/dev/null 2>&1 || true
    [ -n "${CONTAINERS_CONF:-}" ] && podman rmi -af >/dev/null 2>&1 || true
    # vfs layers may hold read-only folders
    chmod -R u+w "$d" 2>/dev/null || true
    rm -rf "$d"
}
