#!/usr/bin/env bats
# transform.image with real podman and a local image built from
# busybox-static (no registry is reachable): the command exists only in the
# image, sees /pfs, cannot change its inputs, and its outputs are merged;
# a new image digest is a new pipeline version; bad images stop the job
# before anything runs.

load helpers
load podman

IMG=localhost/datumrun-test:1

setup_file() {
    export PODMAN_DIR=$(mktemp -d /tmp/datumrun-podman.XXXXXX)
    podman_setup "$PODMAN_DIR"
    podman_image "$PODMAN_DIR" "$IMG" 1
}

teardown_file() {
    podman_teardown "$PODMAN_DIR"
}

setup() {
    common_setup
    podman_setup "$PODMAN_DIR"
    mkdir -p repo
    for c in a b c; do echo "$c" > "repo/$c.txt"; done
}

teardown() { common_teardown; }

# The command: imgtool (only in the image) on each input through /pfs.
tool_cmd='f=$(basename "$in"); imgtool "$(cat /pfs/in/$f)" > /pfs/out/$f.out; pwd > /pfs/out/$f.pwd'

image_spec() { # image_spec FILE [EXTRA_TRANSFORM_JSON]
    spec "$1" imgp "$tool_cmd" "$(pfs in repo '/*')" \
        "{\"transform\": {\"image\": \"$IMG\", \"image_runtime\": \"podman\"${2:+, $2}}, \"parallelism_spec\": {\"constant\": 2}}"
}

@test "a command only the image has runs on every datum, outputs merged" {
    ! command -v imgtool
    image_spec s.json
    run dr run s.json --json
    echo "$output"
    [ "$status" -eq 0 ]
    [ "$(counts "$(last_json)")" = "3 + 0 / 3" ]
    [ "$(cat imgp/a.txt.out)" = "imgtool 1 a" ]
    [ "$(cat imgp/c.txt.out)" = "imgtool 1 c" ]
    # the working directory inside is the sandbox, as outside
    grep -q '/sandbox/' imgp/a.txt.pwd
    [ "$(ls imgp | wc -l)" -eq 6 ]
}

@test "inputs are read-only inside the image, /pfs/out is writable" {
    spec s.json ro 'f=$(basename "$in")
        if echo x >> "/pfs/in/$f" 2>/dev/null; then echo wrote > /pfs/out/$f; else echo refused > /pfs/out/$f; fi
        if echo x >> "$in" 2>/dev/null; then echo wrote >> /pfs/out/$f; else echo refused >> /pfs/out/$f; fi
        rm -f "$(readlink -f /pfs/in/$f)" 2>/dev/null; true' \
        "$(pfs in repo '/*')" \
        "{\"transform\": {\"image\": \"$IMG\"}, \"parallelism_spec\": {\"constant\": 1}}"
    run dr run s.json --runtime podman
    echo "$output"
    [ "$status" -eq 0 ]
    [ "$(cat ro/a.txt)" = "$(printf 'refused\nrefused')" ]
    for c in a b c; do [ "$(cat repo/$c.txt)" = "$c" ]; done
}

@test "the datum's variables reach the command, the host's do not" {
    spec s.json envp 'env | sort > /pfs/out/$(basename "$in").env' \
        "$(pfs in repo '/a.txt')" \
        "{\"transform\": {\"image\": \"$IMG\", \"env\": {\"MINE\": \"v 1\"}}}"
    HOST_ONLY=leak run dr run s.json
    [ "$status" -eq 0 ]
    e=envp/a.txt.env
    grep -q '^MINE=v 1$' $e
    grep -q '^DATUMRUN_DATUM_ID=[0-9a-f]\{32\}$' $e
    grep -q "^DATUMRUN_OUT=.*/pfs/out$" $e
    grep -q "^in=$T/repo/a.txt$" $e
    ! grep -q HOST_ONLY $e
    ! grep -q '^OMPI_' $e
}

@test "a new image digest is a new version: skipped with a warning unless --reprocess" {
    image_spec s.json
    run dr run s.json --json
    [ "$status" -eq 0 ]
    [ "$(counts "$(last_json)")" = "3 + 0 / 3" ]
    id1=$(dr inspect-job s.json "$(jget "$(last_json)" job_id)" --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["image_id"])')
    [[ "$id1" == sha256:* ]]

    # the seed's scenario: a new file is the only datum processed
    echo d > repo/d.txt
    run dr run s.json --json
    [ "$status" -eq 0 ]
    [ "$(counts "$(last_json)")" = "1 + 3 / 4" ]
    [ "$(cat imgp/d.txt.out)" = "imgtool 1 d" ]

    # same tag, new content: the digest changes
    podman_image "$PODMAN_DIR" "$IMG" 2
    run dr run s.json --json
    echo "$output"
    [ "$status" -eq 0 ]
    [ "$(counts "$(last_json)")" = "0 + 4 / 4" ]
    [[ "$output" == *"--reprocess"* ]]
    id2=$(dr inspect-job s.json "$(jget "$(last_json)" job_id)" --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["image_id"])')
    [ "$id1" != "$id2" ]
    [ "$(cat imgp/a.txt.out)" = "imgtool 1 a" ]

    run dr run s.json --json --reprocess
    [ "$status" -eq 0 ]
    [ "$(counts "$(last_json)")" = "4 + 0 / 4" ]
    [ "$(cat imgp/a.txt.out)" = "imgtool 2 a" ]
    # the manifest records the image per job (h5py)
    run h5 .datumrun/imgp --jobs
    echo "$output"
    [[ "$output" == *"$id2"* ]]
}

@test "a missing image or runtime stops the job before anything runs" {
    spec s.json nope 'true' "$(pfs in repo '/*')" \
        '{"transform": {"image": "localhost/no-such-image:9", "image_runtime": "podman"}}'
    run dr run s.json
    echo "$output"
    [ "$status" -eq 2 ]
    [[ "$output" == *"localhost/no-such-image:9"* ]]
    [[ "$output" == *"podman"* ]]
    [ ! -e .datumrun ] && [ ! -e nope ]

    spec s2.json nort 'true' "$(pfs in repo '/*')" \
        "{\"transform\": {\"image\": \"$IMG\", \"image_runtime\": \"docker\"}}"
    PATH=/usr/local/bin:/usr/bin:/bin
    if ! command -v docker >/dev/null; then
        run dr run s2.json
        echo "$output"
        [ "$status" -eq 2 ]
        [[ "$output" == *"needs docker, which is not on PATH"* ]]
    fi

    spec s3.json sif 'true' "$(pfs in repo '/*')" \
        '{"transform": {"image": "img/missing.sif", "image_runtime": "podman"}}'
    run dr run s3.json --runtime podman
    [ "$status" -eq 2 ]
    [[ "$output" == *"missing.sif"* ]]
}

@test "info names the container runtime" {
    run dr info
    [ "$status" -eq 0 ]
    [[ "$output" == *"container: podman"* ]]
    run dr info --json
    [ "$(jget "$output" container_runtime)" = podman ]
}

@test "datum_batching in an image: one container per worker speaks the protocol on fd 3, datum after datum" {
    # The image has no datumrun: the command speaks the protocol in sh.
    # Under bats the worker's environment holds exported functions
    # (BASH_FUNC_x%%), which once made every record invalid.
    $PY - "$IMG" <<'PY'
import json, sys
script = r'''
while echo next >&3 && read -r head <&3 && [ "$head" = datum ]; do
  while read -r kind name len <&3 && [ "$kind" != end ]; do
    read -r value <&3
    [ "$kind" = var ] && [ "$name" = in ] && in=$value
  done
  f=$(basename "$in")
  { imgtool "$(cat /pfs/in/$f)"; echo "pid $$"; } > /pfs/out/$f.out
  echo "done ok" >&3
done
'''
s = {"pipeline": {"name": "bimg"},
     "transform": {"cmd": ["sh"], "stdin": script.splitlines(),
                   "datum_batching": True, "image": sys.argv[1],
                   "image_runtime": "podman"},
     "input": {"pfs": {"name": "in", "repo": "repo", "glob": "/*"}},
     "parallelism_spec": {"constant": 1}}
json.dump(s, open("s.json", "w"), indent=1)
PY
    run dr run s.json --json
    echo "$output"
    [ "$status" -eq 0 ]
    [ "$(counts "$(last_json)")" = "3 + 0 / 3" ]
    # (an earlier test may have rebuilt the image as version 2)
    for c in a b c; do [[ "$(head -n 1 bimg/$c.txt.out)" =~ ^imgtool\ [12]\ $c$ ]]; done
    # one container (one shell) did all three
    [ "$(cat bimg/*.out | grep '^pid' | sort -u | wc -l)" -eq 1 ]
}
