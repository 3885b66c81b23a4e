#!/usr/bin/python3
"""read_manifest.py: an independent reader of datumrun's manifest, h5py only.

    read_manifest.py STATE_DIR
                     [--summary|--datums|--jobs|--statcache|--attempts|
                      --lost-workers] [--journal]

Prints one JSON document on stdout (default --summary).  Integration tests
use it to check what datumrun recorded without going through datumrun's own
C reader.  It reads STATE_DIR/manifest.h5 as of the last checkpoint; records
still in STATE_DIR/journal (after a kill -9) are not in it, and --summary
reports how many journal bytes are pending.  With --journal it also replays
the journal on top, as datumrun's open does (its own decoder, written from
the format in docs/manifest.md; checksums are checked through libxxhash
when it can be loaded): a torn last record is ignored, a bad record with
good ones after it is an error.  The schema is docs/manifest.md.
Exit status: 0, or 2 with a message on stderr.
"""
import ctypes
import ctypes.util
import json
import os
import struct
import sys

import h5py

SUPPORTED_VERSIONS = (1, 2)


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
    version = int(f.attrs["datumrun_manifest_version"])
    # Each output path's size and mtime when it was made, one row per
    # output in the order of the datums rows and their outputs.
    ostats = f["output_stats"][...] if "output_stats" in f else None
    at = 0
    out = []
    for r in rows:
        off = int(r["strings_offset"])
        il, ol = int(r["inputs_length"]), int(r["outputs_length"])
        # Format 2: a list, each "name:path" NUL-terminated; format 1: lines.
        # Names are bytes: surrogateescape keeps any of them exactly.
        raw = blob[off:off + il]
        entries = (raw.split(b"\0")[:-1] if version >= 2
                   else [l for l in raw.split(b"\n") if l])
        inputs = [e.decode("utf-8", "surrogateescape") for e in entries]
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
            "inputs": inputs,
            "outputs": [o.decode("utf-8", "surrogateescape") for o in outputs],
            # format 2; format 1 left it to the job that processed it
            "pipeline": (text(r["pipeline"]) if "pipeline" in rows.dtype.names
                         else None),
        })
        if ostats is not None:
            out[-1]["output_stats"] = [
                {"size": int(ostats[at + k]["size"]),
                 "mtime_ns": int(ostats[at + k]["mtime_ns"])}
                for k in range(len(outputs))]
            at += len(outputs)
    if ostats is not None and at != len(ostats):
        raise Bad("output_stats has %d rows for %d outputs"
                  % (len(ostats), at))
    return out


def jobs(f):
    ds = f["jobs"]
    states = enum_names(ds, "state")
    images = {}
    if "job_images" in f:   # since 0.2, only when a job ran in an image
        for r in f["job_images"][...]:
            images[text(r["id"])] = text(r["image_id"])
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
            "image_id": images.get(text(r["id"]), ""),
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
            "ctime_ns": (int(r["ctime_ns"])
                         if "ctime_ns" in r.dtype.names else None),
            "ino": int(r["ino"]),
            "dev": int(r["dev"]),
            "hash": text(r["hash"]),
        })
    return out


def attempts(f):
    """Every attempt (format version 2; a version 1 file has none)."""
    if "attempts" not in f:
        return []
    ds = f["attempts"]
    hosts = [text(h) for h in f["hosts"][...]]
    outcomes = enum_names(ds, "outcome")
    out = []
    for r in ds[...]:
        out.append({
            "datum": text(r["datum"]),
            "job": text(r["job"]),
            "attempt": int(r["attempt"]),
            "rank": int(r["rank"]),
            "host": hosts[int(r["host_index"])],
            "start_ns": int(r["start_ns"]),
            "duration_s": float(r["duration_s"]),
            "exit_status": int(r["exit_status"]),
            "term_signal": int(r["term_signal"]),
            "outcome": outcomes.get(int(r["outcome"]), int(r["outcome"])),
        })
    return out


def lost_workers(f):
    """Workers declared lost, of every job (format 2 since the lost-worker
    records; absent from older files)."""
    if "lost_workers" not in f:
        return []
    return [{"job": text(r["job"]), "rank": int(r["rank"]),
             "host": text(r["host"]), "time_ns": int(r["time_ns"]),
             "reason": text(r["reason"])}
            for r in f["lost_workers"][...]]


# ------------------------------------------------------------- journal

DATUM_STATES = ["pending", "success", "failed", "recovered", "skipped",
                "interrupted"]
JOB_STATES = ["running", "success", "failure", "killed"]
OUTCOMES = ["success", "failed", "interrupted", "lost", "recovered"]
REC_JOB_BEGIN, REC_PUT, REC_INVALIDATE, REC_FORGET, REC_JOB_END = 1, 2, 3, 4, 5
REC_ATTEMPT = 6
REC_PUT_V2 = 7  # a put with each output's size and mtime
REC_ENTRIES, REC_JOB_INPUTS = 10, 11   # lineage (io/lineage.c)
REC_PUT_V3 = 12       # type 7 with a 4-byte attempt count
REC_LOST_WORKER = 13  # a worker declared lost


def xxh3_64():
    """XXH3_64bits from the system's libxxhash, or None."""
    for name in ("libxxhash.so.0", ctypes.util.find_library("xxhash")):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
            fn = lib.XXH3_64bits
        except (OSError, AttributeError):
            continue
        fn.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
        fn.restype = ctypes.c_uint64
        return lambda b: fn(b, len(b))
    return None


class Bad(Exception):
    pass


class Cursor:
    def __init__(self, b):
        self.b, self.p = b, 0

    def take(self, n):
        if self.p + n > len(self.b):
            raise Bad("short payload")
        v = self.b[self.p:self.p + n]
        self.p += n
        return v

    def u(self, n):
        return int.from_bytes(self.take(n), "little")

    def i32(self):
        return struct.unpack("<i", self.take(4))[0]

    def i64(self):
        return struct.unpack("<q", self.take(8))[0]

    def f64(self):
        return struct.unpack("<d", self.take(8))[0]

    def left(self):
        return len(self.b) - self.p

    def done(self):
        if self.p != len(self.b):
            raise Bad("trailing bytes in payload")


def decode_put(c, v2=False, attempts_width=1):
    d = {"id": c.take(16).hex(), "hash": c.take(16).hex(),
         "proc_job": c.take(16).hex(), "seen_job": c.take(16).hex()}
    st = c.u(1)
    d["state"] = DATUM_STATES[st] if st < len(DATUM_STATES) else st
    d["attempts"] = c.u(attempts_width)
    d["rank"] = c.i32()
    d["host"] = c.take(c.u(1)).decode("utf-8", "replace")
    d["start_ns"] = c.i64()
    d["duration_s"] = c.f64()
    d["bytes_in"] = c.u(8)
    d["bytes_out"] = c.u(8)
    d["exit_status"] = c.i32()
    d["term_signal"] = c.i32()
    inputs = c.take(c.u(4))
    nout = c.u(4)
    outs = c.take(c.u(4)).split(b"\0")[:-1]
    if len(outs) != nout:
        raise Bad("output count")
    if v2:
        d["pipeline"] = c.take(16).hex()
        form = c.u(1)
        d["output_stats"] = [{"size": c.u(8), "mtime_ns": c.i64()}
                             for _ in range(nout)]
    else:
        d["pipeline"] = c.take(16).hex() if len(c.b) - c.p >= 16 else None
        # Then the inputs' form: 1 = a NUL-terminated list; absent = lines.
        form = c.u(1) if len(c.b) - c.p == 1 else 0
    c.done()
    entries = (inputs.split(b"\0")[:-1] if form == 1
               else [l for l in inputs.split(b"\n") if l])
    d["inputs"] = [e.decode("utf-8", "surrogateescape") for e in entries]
    d["outputs"] = [o.decode("utf-8", "surrogateescape") for o in outs]
    return d


def decode_job(c):
    j = {"id": c.take(c.u(1)).decode(), "pipeline": c.take(c.u(1)).decode()}
    st = c.u(4)
    j["state"] = JOB_STATES[st] if st < len(JOB_STATES) else st
    j["workers"] = c.i32()
    j["nodes"] = c.i32()
    for k in ("processed", "skipped", "failed", "recovered", "total",
              "bytes_downloaded", "bytes_uploaded"):
        j[k] = c.u(8)
    j["start_ns"] = c.i64()
    j["duration_s"] = c.f64()
    j["pipeline_hash"] = c.take(16).hex()
    j["image_id"] = c.take(c.u(1)).decode() if c.left() else ""
    c.done()
    return j


def decode_attempt(c):
    a = {"datum": c.take(16).hex(), "job": c.take(16).hex(),
         "attempt": c.u(4), "rank": c.i32()}
    a["host"] = c.take(c.u(1)).decode("utf-8", "replace")
    a["start_ns"] = c.i64()
    a["duration_s"] = c.f64()
    a["exit_status"] = c.i32()
    a["term_signal"] = c.i32()
    o = c.u(1)
    if o >= len(OUTCOMES):
        raise Bad("attempt outcome %d" % o)
    a["outcome"] = OUTCOMES[o]
    c.done()
    return a


def decode_lost_worker(c):
    w = {"job": c.take(c.u(1)).decode(), "rank": c.i32()}
    w["host"] = c.take(c.u(1)).decode("utf-8", "replace")
    w["time_ns"] = c.i64()
    w["reason"] = c.take(c.u(2)).decode("utf-8", "replace")
    c.done()
    return w


def journal_records(path):
    """The journal's good records as (type, payload), in order."""
    try:
        data = open(path, "rb").read()
    except FileNotFoundError:
        return []
    h = xxh3_64()

    def record_at(off):
        if data[off:off + 4] != b"DRJ1" or off + 12 > len(data):
            return None
        typ, length = struct.unpack_from("<II", data, off + 4)
        end = off + 12 + length
        if end + 8 > len(data):
            return None
        if h and h(data[off:end]) != struct.unpack_from("<Q", data, end)[0]:
            return None
        return typ, data[off + 12:end], end + 8

    recs, off = [], 0
    while off < len(data):
        r = record_at(off)
        if r is None:
            later = data.find(b"DRJ1", off + 1)
            while later >= 0:
                if record_at(later):
                    raise Bad("%s: corrupt record at byte %d with good "
                              "records after it" % (path, off))
                later = data.find(b"DRJ1", later + 1)
            break  # a torn tail
        recs.append((r[0], r[1]))
        off = r[2]
    return recs


def attempt_key(a):
    return (a["datum"], a["job"], a["attempt"])


def replay(state_dir, dlist, jlist, alist=(), llist=None):
    """Apply the journal to the datum, job and attempt lists (as datums(),
    jobs(), attempts()).  Returns the three.  llist, a list as
    lost_workers() returns, is updated in place when given."""
    dmap = {d["id"]: d for d in dlist}
    jobs_ = list(jlist)
    amap = {attempt_key(a): a for a in alist}
    path = os.path.join(state_dir, "journal")
    for off, (typ, payload) in enumerate(journal_records(path)):
        c = Cursor(payload)
        try:
            if typ in (REC_PUT, REC_PUT_V2, REC_PUT_V3):
                d = decode_put(c, typ != REC_PUT,
                               4 if typ == REC_PUT_V3 else 1)
                dmap[d["id"]] = d
            elif typ == REC_LOST_WORKER:
                w = decode_lost_worker(c)
                if llist is not None:
                    llist[:] = [x for x in llist
                                if (x["job"], x["rank"]) != (w["job"],
                                                             w["rank"])]
                    llist.append(w)
            elif typ == REC_ATTEMPT:
                a = decode_attempt(c)
                amap.pop(attempt_key(a), None)  # a replayed one goes last
                amap[attempt_key(a)] = a
            elif typ in (REC_INVALIDATE, REC_FORGET):
                ident = c.take(16).hex()
                c.done()
                if typ == REC_FORGET:
                    dmap.pop(ident, None)
                elif ident in dmap:
                    dmap[ident]["state"] = "pending"
                    dmap[ident]["hash"] = "0" * 32
            elif typ in (REC_JOB_BEGIN, REC_JOB_END):
                j = decode_job(c)
                if typ == REC_JOB_BEGIN:
                    j["state"] = "running"
                for i, old in enumerate(jobs_):
                    if old["id"] == j["id"]:
                        jobs_[i] = j
                        break
                else:
                    jobs_.append(j)
            elif typ == REC_ENTRIES:
                # a datum's input entries' hashes (lineage): checked for
                # shape; the lists here do not carry lineage
                c.take(16)
                n = c.u(4)
                c.take(16 * n)
                c.done()
            elif typ == REC_JOB_INPUTS:
                c.take(c.u(1))
                for _ in range(c.u(4)):
                    c.take(c.u(4))
                    c.take(c.u(4))
                c.done()
            else:
                raise Bad("unknown record type %d" % typ)
        except Bad as e:
            raise Bad("%s: record %d: %s" % (path, off, e))
    return list(dmap.values()), jobs_, list(amap.values())


def summary(f, state_dir, with_journal):
    ds = f["datums"]
    states = enum_names(ds, "state")
    counts = {}
    ndatums, njobs = int(ds.shape[0]), int(f["jobs"].shape[0])
    nattempts = int(f["attempts"].shape[0]) if "attempts" in f else 0
    ll = lost_workers(f)
    if with_journal:
        dl, jl, al = replay(state_dir, datums(f), jobs(f), attempts(f), ll)
        for d in dl:
            counts[d["state"]] = counts.get(d["state"], 0) + 1
        ndatums, njobs, nattempts = len(dl), len(jl), len(al)
    else:
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
        "output_folder": (text(f.attrs["output_folder"])
                          if "output_folder" in f.attrs else None),
        "datums": ndatums,
        "jobs": njobs,
        "statcache": int(f["statcache"].shape[0]),
        "attempts": nattempts,
        "lost_workers": len(ll),
        "states": counts,
        "journal_bytes": journal,
    }


def main(argv):
    modes = ("--summary", "--datums", "--jobs", "--statcache", "--attempts",
             "--lost-workers")
    with_journal = "--journal" in argv[1:]
    args = [a for a in argv[1:] if a not in modes and a != "--journal"]
    chosen = [a for a in argv[1:] if a in modes] or ["--summary"]
    if len(args) != 1 or len(chosen) != 1:
        sys.stderr.write("usage: read_manifest.py STATE_DIR "
                         "[--summary|--datums|--jobs|--statcache|"
                         "--attempts|--lost-workers] "
                         "[--journal]\n")
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
        if version not in SUPPORTED_VERSIONS:
            sys.stderr.write("%s: manifest format version %d, this reader "
                             "knows %s\n" % (path, version, SUPPORTED_VERSIONS))
            return 2
        mode = chosen[0]
        try:
            if mode == "--datums":
                doc = datums(f)
                if with_journal:
                    doc = replay(state_dir, doc, [])[0]
            elif mode == "--jobs":
                doc = jobs(f)
                if with_journal:
                    doc = replay(state_dir, [], doc)[1]
            elif mode == "--attempts":
                doc = attempts(f)
                if with_journal:
                    doc = replay(state_dir, [], [], doc)[2]
            elif mode == "--lost-workers":
                doc = lost_workers(f)
                if with_journal:
                    replay(state_dir, [], [], (), doc)
            elif mode == "--statcache":
                doc = statcache(f)
            else:
                doc = summary(f, state_dir, with_journal)
        except Bad as e:
            sys.stderr.write("%s\n" % e)
            return 2
    json.dump(doc, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
