#!/usr/bin/python3
"""read_manifest.py: an independent reader of datumrun's manifest, h5py only.

    read_manifest.py STATE_DIR [--summary|--datums|--jobs|--statcache]

Prints one JSON document on stdout (default --summary).  Integration tests
use it to check what datumrun recorded without going through datumrun's own
C reader.  It reads STATE_DIR/manifest.h5 as of the last checkpoint; records
still in STATE_DIR/journal (after a kill -9) are not in it, and --summary
reports how many journal bytes are pending.  The schema is docs/manifest.md.
Exit status: 0, or 2 with a message on stderr.
"""
import json
import os
import sys

import h5py

SUPPORTED_VERSION = 1


def text(b):
    """Fixed-size HDF5 strings arrive as NUL-padded bytes."""
    if isinstance(b, bytes):
        return b.rstrip(b"\0").decode("utf-8", "replace")
    return str(b)


def enum_names(dataset, field):
    """value -> name for an HDF5 enum field of a compound dataset."""
    mapping = h5py.check_enum_dtype(dataset.dtype.fields[field][0])
    return {v: k for k, v in mapping.items()} if mapping else {}


def datums(f):
    ds = f["datums"]
    rows = ds[...]
    blob = f["datum_strings"][...].tobytes()
    hosts = [text(h) for h in f["hosts"][...]]
    states = enum_names(ds, "state")
    out = []
    for r in rows:
        off = int(r["strings_offset"])
        il, ol = int(r["inputs_length"]), int(r["outputs_length"])
        inputs = blob[off:off + il].decode("utf-8", "replace")
        outputs = blob[off + il:off + il + ol].split(b"\0")[:-1]
        assert len(outputs) == int(r["noutputs"])
        out.append({
            "id": text(r["id"]),
            "hash": text(r["hash"]),
            "proc_job": text(r["proc_job"]),
            "seen_job": text(r["seen_job"]),
            "state": states.get(int(r["state"]), int(r["state"])),
            "attempts": int(r["attempts"]),
            "rank": int(r["rank"]),
            "host": hosts[int(r["host_index"])],
            "start_ns": int(r["start_ns"]),
            "duration_s": float(r["duration_s"]),
            "bytes_in": int(r["bytes_in"]),
            "bytes_out": int(r["bytes_out"]),
            "exit_status": int(r["exit_status"]),
            "term_signal": int(r["term_signal"]),
            "inputs": [l for l in inputs.split("\n") if l],
            "outputs": [o.decode("utf-8", "replace") for o in outputs],
        })
    return out


def jobs(f):
    ds = f["jobs"]
    states = enum_names(ds, "state")
    out = []
    for r in ds[...]:
        out.append({
            "id": text(r["id"]),
            "pipeline": text(r["pipeline"]),
            "state": states.get(int(r["state"]), int(r["state"])),
            "workers": int(r["workers"]),
            "nodes": int(r["nodes"]),
            "processed": int(r["processed"]),
            "skipped": int(r["skipped"]),
            "failed": int(r["failed"]),
            "recovered": int(r["recovered"]),
            "total": int(r["total"]),
            "bytes_downloaded": int(r["bytes_downloaded"]),
            "bytes_uploaded": int(r["bytes_uploaded"]),
            "start_ns": int(r["start_ns"]),
            "duration_s": float(r["duration_s"]),
            "pipeline_hash": text(r["pipeline_hash"]),
        })
    return out


def statcache(f):
    blob = f["statcache_paths"][...].tobytes()
    out = []
    for r in f["statcache"][...]:
        off, n = int(r["path_offset"]), int(r["path_length"])
        out.append({
            "path": blob[off:off + n].decode("utf-8", "replace"),
            "size": int(r["size"]),
            "mtime_ns": int(r["mtime_ns"]),
            "ino": int(r["ino"]),
            "dev": int(r["dev"]),
            "hash": text(r["hash"]),
        })
    return out


def summary(f, state_dir):
    ds = f["datums"]
    states = enum_names(ds, "state")
    counts = {}
    for v in ds.fields("state")[...]:
        name = states.get(int(v), str(int(v)))
        counts[name] = counts.get(name, 0) + 1
    try:
        journal = os.path.getsize(os.path.join(state_dir, "journal"))
    except OSError:
        journal = 0
    return {
        "version": int(f.attrs["datumrun_manifest_version"]),
        "creator": text(f.attrs["creator"]),
        "pipeline_hash": text(f.attrs["pipeline_hash"]),
        "datums": int(ds.shape[0]),
        "jobs": int(f["jobs"].shape[0]),
        "statcache": int(f["statcache"].shape[0]),
        "states": counts,
        "journal_bytes": journal,
    }


def main(argv):
    modes = ("--summary", "--datums", "--jobs", "--statcache")
    args = [a for a in argv[1:] if a not in modes]
    chosen = [a for a in argv[1:] if a in modes] or ["--summary"]
    if len(args) != 1 or len(chosen) != 1:
        sys.stderr.write("usage: read_manifest.py STATE_DIR "
                         "[--summary|--datums|--jobs|--statcache]\n")
        return 2
    state_dir = args[0]
    path = os.path.join(state_dir, "manifest.h5")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        sys.stderr.write("%s: %s\n" % (path, e))
        return 2
    with f:
        version = int(f.attrs.get("datumrun_manifest_version", -1))
        if version != SUPPORTED_VERSION:
            sys.stderr.write("%s: manifest format version %d, this reader "
                             "knows %d\n" % (path, version, SUPPORTED_VERSION))
            return 2
        mode = chosen[0]
        if mode == "--datums":
            doc = datums(f)
        elif mode == "--jobs":
            doc = jobs(f)
        elif mode == "--statcache":
            doc = statcache(f)
        else:
            doc = summary(f, state_dir)
    json.dump(doc, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
