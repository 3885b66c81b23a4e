#!/usr/bin/env python3
"""run.py: the mutation harness (tests/mutation/README.md).

Each mutant in mutants.txt is one small, realistic bug: an exact snippet of
one source file and what it becomes.  For each mutant the harness copies
nothing back into the source tree: it works on a private copy of the tree
(--work), applies the mutant there, rebuilds incrementally, runs the tests
the mutant names first and, if they all pass, every other test (Slurm
tests excluded unless --slurm), then restores the file.  A mutant is
  killed     some test failed (or timed out),
  survived   every test passed: a missing test, or an equivalent mutant,
  stillborn  it did not build (not counted),
  stale      its snippet is not in the file exactly once (the code moved:
             update the mutant).
It prints a table and the kill ratio, and writes it to WORK/results.md.

  tests/mutation/run.py [--work DIR] [--only ID,...] [--first-only]
                        [--slurm] [--jobs N] [--list]
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))


class Mutant:
    def __init__(self, mid, path, desc):
        self.id, self.path, self.desc = mid, path, desc
        self.tests = []
        self.find, self.repl = [], []
        self.result, self.detail, self.seconds = "", "", 0.0


def parse(path):
    """mutants.txt: blocks of
         [ID] FILE | one-line description
         tests: ctest-regex ...
         - line of the snippet as it is
         + line it becomes
       '#' lines and blank lines between blocks are ignored; a '-'/'+' line
       keeps everything after its two-character marker."""
    out, cur = [], None
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        line = line.rstrip("\n")
        m = re.match(r"^\[(\w+)\]\s+(\S+)\s+\|\s+(.*)$", line)
        if m:
            cur = Mutant(m.group(1), m.group(2), m.group(3))
            out.append(cur)
        elif line.startswith("tests:") and cur:
            cur.tests = line[6:].split()
        elif line.startswith("- ") or line == "-":
            cur.find.append(line[2:])
        elif line.startswith("+ ") or line == "+":
            cur.repl.append(line[2:])
        elif line.strip() and not line.startswith("#"):
            sys.exit("%s:%d: cannot parse: %s" % (path, n, line))
    ids = [m.id for m in out]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        sys.exit("duplicate mutant IDs: %s" % ", ".join(sorted(dup)))
    for m in out:
        if not m.find or not m.tests:
            sys.exit("mutant %s needs a snippet and tests" % m.id)
    return out


def sh(cmd, cwd, timeout, log, env=None):
    with open(log, "a") as f:
        f.write("\n$ %s\n" % " ".join(cmd))
        f.flush()
        try:
            return subprocess.run(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT,
                                  timeout=timeout, env=env).returncode
        except subprocess.TimeoutExpired:
            f.write("timed out after %ds\n" % timeout)
            return 124


def copy_tree(src, dst):
    files = subprocess.run(["git", "-C", src, "ls-files", "-co", "--exclude-standard"],
                           check=True, capture_output=True, text=True).stdout.split("\n")
    for rel in files:
        if not rel or rel.startswith("tests/mutation/work"):
            continue
        s, d = os.path.join(src, rel), os.path.join(dst, rel)
        if not os.path.isfile(s):
            continue
        os.makedirs(os.path.dirname(d), exist_ok=True)
        if not os.path.exists(d) or open(s, "rb").read() != open(d, "rb").read():
            shutil.copy2(s, d)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/tmp/datumrun-mutation")
    ap.add_argument("--only", default="")
    ap.add_argument("--first-only", action="store_true",
                    help="run only each mutant's named tests")
    ap.add_argument("--slurm", action="store_true",
                    help="also run the Slurm tests (needs slurm/cluster.sh up)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--timeout", type=int, default=300,
                    help="seconds per test before it counts as failed")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--check", action="store_true",
                    help="only check that every snippet is found once")
    a = ap.parse_args()

    mutants = parse(os.path.join(HERE, "mutants.txt"))
    if a.list:
        for m in mutants:
            print("%-5s %-22s %s" % (m.id, m.path, m.desc))
        print("%d mutants" % len(mutants))
        return 0
    if a.only:
        want = set(a.only.split(","))
        mutants = [m for m in mutants if m.id in want]
    if a.check:
        bad = 0
        for m in mutants:
            try:
                n = open(os.path.join(SRC, m.path), encoding="utf-8").read().count(
                    "\n".join(m.find))
            except FileNotFoundError:
                n = -1
            if n != 1:
                bad += 1
                print("%s %s: snippet found %d times" % (m.id, m.path, n))
            for t in m.tests:
                if ":" not in t:
                    continue
                name, rx = t.split(":", 1)
                try:
                    names = re.findall(r'^@test "(.*)" \{', open(os.path.join(
                        SRC, "tests", name + ".bats"), encoding="utf-8").read(), re.M)
                except FileNotFoundError:
                    names = []
                if not any(re.search(rx, x) for x in names):
                    bad += 1
                    print("%s: %s names no test" % (m.id, t))
        print("%d mutants, %d stale (snippets or first tests)" % (len(mutants), bad))
        return 1 if bad else 0

    src = os.path.join(a.work, "src")
    build = os.path.join(a.work, "build")
    log = os.path.join(a.work, "log.txt")
    os.makedirs(src, exist_ok=True)
    open(log, "w").close()
    copy_tree(SRC, src)
    if sh(["cmake", "-S", src, "-B", build, "-DCMAKE_BUILD_TYPE=RelWithDebInfo"],
          a.work, 600, log) or sh(["cmake", "--build", build, "-j%d" % a.jobs],
                                  a.work, 1800, log):
        sys.exit("the unmutated tree does not build: see %s" % log)

    slurm = [] if a.slurm else ["-E", "slurm"]
    ctest = ["ctest", "--output-on-failure", "--timeout", str(a.timeout), "-j1"]
    env = dict(os.environ, DATUMRUN=os.path.join(build, "datumrun"),
               DATUMRUN_SRC=src, DATUMRUN_BUILD=build)

    killer = [""]

    def run_first(tests, stop=True):
        """A mutant's first tests, in the order named, up to the first that
        fails (unless not stop): each a ctest name (a regex), or
        integration/FILE:RE for only that bats file's tests whose name
        matches RE ('.' for a space).  0 when all pass."""
        rc = 0
        for t in tests:
            if ":" not in t:
                r = sh(ctest + ["-R", t] + slurm, build, 7200, log)
            else:
                name, rx = t.split(":", 1)
                bats = os.path.join(src, "tests", name + ".bats")
                r = sh(["timeout", "-k", "10", str(a.timeout), "bats", "--tap",
                        "--filter", rx, bats], build, a.timeout + 60, log, env)
            if r and not rc:
                rc, killer[0] = r, t
            if rc and stop:
                break
        return rc

    # The unmutated tree must pass every mutant's first tests.
    first_all = sorted({t for m in mutants for t in m.tests})
    whole = {t for t in first_all if ":" not in t}
    first_all = [t for t in first_all if t.split(":")[0] not in whole or ":" not in t]
    if run_first(first_all, stop=False):
        sys.exit("the unmutated tree fails the tests: see %s" % log)

    t_start = time.time()
    for m in mutants:
        t0 = time.time()
        path = os.path.join(src, m.path)
        try:
            text = open(path, encoding="utf-8").read()
        except FileNotFoundError:
            m.result, m.detail = "stale", "no such file"
            continue
        find, repl = "\n".join(m.find), "\n".join(m.repl)
        if text.count(find) != 1:
            m.result = "stale"
            m.detail = "snippet found %d times" % text.count(find)
            continue
        open(path, "w", encoding="utf-8").write(text.replace(find, repl))
        try:
            with open(log, "a") as f:
                f.write("\n==== %s %s: %s\n" % (m.id, m.path, m.desc))
            if sh(["cmake", "--build", build, "-j%d" % a.jobs], a.work, 1800, log):
                m.result, m.detail = "stillborn", "does not build"
                continue
            # The rest: every ctest test but the Slurm ones (unless
            # --slurm) and the named whole files already run; a file run
            # only in part (FILE:RE) runs whole here.
            first = "|".join(["^%s$" % t for t in m.tests if ":" not in t]
                             + ([] if a.slurm else ["slurm"]))
            if run_first(m.tests):
                m.result, m.detail = "killed", "by " + killer[0]
            elif a.first_only:
                m.result, m.detail = "survived", "named tests only"
            elif sh(ctest + ["--stop-on-failure"] + (["-E", first] if first else []),
                    build, 7200, log):
                m.result, m.detail = "killed", "by the other tests"
            else:
                m.result, m.detail = "survived", "every test passed"
        finally:
            open(path, "w", encoding="utf-8").write(text)
            os.utime(path, None)
            m.seconds = time.time() - t0
        print("%-5s %-9s %5.0fs  %s" % (m.id, m.result, m.seconds, m.desc), flush=True)

    counted = [m for m in mutants if m.result in ("killed", "survived")]
    killed = [m for m in counted if m.result == "killed"]
    lines = ["| mutant | file | bug | result | how |", "| --- | --- | --- | --- | --- |"]
    for m in mutants:
        lines.append("| %s | `%s` | %s | %s | %s |" % (m.id, m.path, m.desc, m.result, m.detail))
    ratio = "%d/%d killed (%.0f%%)" % (len(killed), len(counted),
                                       100.0 * len(killed) / len(counted) if counted else 0)
    lines.append("")
    lines.append("%s; %d stillborn, %d stale; %.0f s" % (
        ratio, sum(m.result == "stillborn" for m in mutants),
        sum(m.result == "stale" for m in mutants), time.time() - t_start))
    table = "\n".join(lines)
    open(os.path.join(a.work, "results.md"), "w").write(table + "\n")
    print()
    print(table)
    return 0 if len(killed) == len(counted) else 1


if __name__ == "__main__":
    sys.exit(main())
