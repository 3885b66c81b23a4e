"""datumrun: the Python side of batched datums (docs/batching.md).

In a pipeline with ``"transform": {"datum_batching": true}`` the worker
starts the command once and feeds it datum after datum over the descriptor
named in ``$DATUMRUN_BATCH_FD``::

    import datumrun

    for datum in datumrun.datums():
        text = open(datum.inputs["words"]).read()
        (datum.out / "count.txt").write_text(str(len(text.split())))

Each iteration reports the previous datum as a success.  An exception in
the loop's body fails that datum (the traceback goes to its log) and the
command exits; the worker starts it again for the next datum.  To go on in
the same process, use ``datumrun.run(fn)``, which fails only the datums
whose ``fn(datum)`` raises.  Pure Python, no dependencies.
"""

import atexit
import os
import pathlib
import sys
import traceback

__all__ = ["Datum", "ProtocolError", "datums", "run", "connected"]

FD_ENV = "DATUMRUN_BATCH_FD"
_MAX_MESSAGE = 4000


class ProtocolError(RuntimeError):
    """The worker's answer was not the protocol, or the worker went away."""


class Datum:
    """One datum: what a fork-per-datum command finds in its environment."""

    def __init__(self, entries):
        self.vars = {}
        self.files = []
        for kind, name, value in entries:
            if kind == "var":
                self.vars[name] = value
            elif kind == "input":
                self.files.append((name, value))
        self.id = self.vars.get("DATUMRUN_DATUM_ID", "")
        self.out = pathlib.Path(self.vars.get("DATUMRUN_OUT", "pfs/out"))
        # $<input>: the first entry of each input.
        self.inputs = {}
        for name, path in self.files:
            self.inputs.setdefault(name, path)
        self.join_on = self.vars.get("DATUMRUN_JOIN_ON")
        self.group_by = self.vars.get("DATUMRUN_GROUP_BY")
        self._conn = None
        self._done = False

    def fail(self, message="failed"):
        """Report this datum as failed now (the loop goes on)."""
        if self._conn and not self._done:
            self._conn.finish(self, False, str(message))

    def succeed(self):
        """Report this datum as a success now."""
        if self._conn and not self._done:
            self._conn.finish(self, True, "")

    def __repr__(self):
        return "Datum(id=%r, inputs=%r)" % (self.id[:12], self.inputs)


class _Conn:
    def __init__(self, fd):
        self.fd = fd
        self.buf = b""
        self.current = None
        self.stopped = False
        self.pending = []       # records of the last window not yet begun

    def _write(self, data):
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.fd, view)
            except InterruptedError:
                continue
            except OSError as e:
                raise ProtocolError("cannot write to the worker: %s" % e)
            view = view[n:]

    def _read_more(self):
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except InterruptedError:
                continue
            except OSError as e:
                raise ProtocolError("cannot read from the worker: %s" % e)
            if not chunk:
                raise ProtocolError("the worker closed the connection")
            self.buf += chunk
            return

    def _line(self):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 1:]
                return line
            self._read_more()

    def _exact(self, n):
        while len(self.buf) < n:
            self._read_more()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def finish(self, datum, ok, message, send=True):
        # What the datum printed belongs to its log: flush before telling.
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        datum._done = True
        if self.current is datum:
            self.current = None
        if ok:
            line = b"done ok\n"
        else:
            msg = " ".join(message.splitlines())[:_MAX_MESSAGE]
            line = b"done fail " + msg.encode("utf-8", "replace") + b"\n"
        if send:
            self._write(line)
        return line

    def next(self, paths=False, window=1):
        """The next Datum, or None when there are no more.  paths: the
        caller reads its inputs by datum.inputs/datum.files (absolute
        paths), so the worker makes no pfs/<input> links for it.  window
        (with paths): ask for up to that many datums at once; each is
        still reported as it ends."""
        done = b""
        if self.current is not None:
            done = self.finish(self.current, True, "", send=False)
        if self.pending:
            # The next of the window: report this one now, so that the
            # worker's clock for the next starts here.
            if done:
                self._write(done)
            d = self.pending.pop(0)
            self.current = d
            return d
        if self.stopped:
            if done:
                self._write(done)
            return None
        window = int(window) if paths and int(window) > 1 else 0
        if window:
            req = b"next paths window=%d\n" % window
        else:
            req = b"next paths\n" if paths else b"next\n"
        # The result and the next request in one write.
        self._write(done + req)
        head = self._line()
        if head == b"stop":
            self.stopped = True
            return None
        count = 1
        if window:
            parts = head.split(b" ")
            if len(parts) != 2 or parts[0] != b"datums" \
                    or not parts[1].isdigit() or int(parts[1]) < 1:
                raise ProtocolError("unexpected answer %r" % head[:64])
            count = int(parts[1])
            head = self._line()
        records = [self._record(head)]
        for _ in range(count - 1):
            records.append(self._record(self._line()))
        self.current = records[0]
        self.pending = records[1:]
        return self.current

    def _record(self, head):
        if head != b"datum":
            raise ProtocolError("unexpected answer %r" % head[:64])
        entries = []
        while True:
            line = self._line()
            if line == b"end":
                break
            parts = line.split(b" ")
            if len(parts) != 3 or not parts[2].isdigit():
                raise ProtocolError("malformed entry %r" % line[:64])
            value = self._exact(int(parts[2]) + 1)
            if value[-1:] != b"\n":
                raise ProtocolError("entry %r not terminated" % parts[1])
            entries.append((os.fsdecode(parts[0]), os.fsdecode(parts[1]),
                            os.fsdecode(value[:-1])))
        d = Datum(entries)
        d._conn = self
        return d


_conn = None


def connected():
    """True when running as a batched command (``$DATUMRUN_BATCH_FD`` set)."""
    return bool(os.environ.get(FD_ENV))


def _connection():
    global _conn
    if _conn is None:
        s = os.environ.get(FD_ENV)
        if not s:
            raise ProtocolError(
                "$%s is not set: run this under a datumrun pipeline with "
                '"transform": {"datum_batching": true}' % FD_ENV)
        try:
            fd = int(s)
            os.fstat(fd)
        except (ValueError, OSError):
            raise ProtocolError("$%s=%s is not an open descriptor"
                                % (FD_ENV, s))
        _conn = _Conn(fd)
        _install_hooks()
    return _conn


def _install_hooks():
    previous = sys.excepthook

    def hook(etype, value, tb):
        # An exception out of the loop's body: that datum failed.  The
        # traceback goes to stderr, that datum's log, before the report.
        conn = _conn
        if conn is not None and conn.current is not None:
            traceback.print_exception(etype, value, tb)
            msg = "".join(traceback.format_exception_only(etype, value))
            try:
                conn.finish(conn.current, False, msg.strip())
            except ProtocolError:
                pass
            return
        previous(etype, value, tb)

    sys.excepthook = hook

    def at_exit():
        # A normal exit with a datum in hand (a `break` out of the loop):
        # its body finished, so it succeeded.
        conn = _conn
        if conn is not None and conn.current is not None:
            try:
                conn.finish(conn.current, True, "")
            except ProtocolError:
                pass

    atexit.register(at_exit)


def datums(paths=False):
    """Yield one Datum per datum until the worker has no more.  With
    paths=True the loop reads its inputs by the absolute paths in
    datum.inputs and datum.files only: the worker then makes no
    pfs/<input> links in the sandbox, which saves a file system operation
    per entry (docs/batching.md)."""
    conn = _connection()
    while True:
        d = conn.next(paths)
        if d is None:
            return
        yield d


def run(fn, paths=False, window=1):
    """Call fn(datum) for every datum; one that raises fails that datum
    (traceback to its log) and the loop goes on in this process.  Returns
    the number of datums that failed.  paths as for datums().  window
    (with paths=True): take up to that many datums per request from the
    worker, each with its own datum.out, each reported as it ends (one
    round trip per window instead of per datum: docs/batching.md)."""
    conn = _connection()
    failed = 0
    while True:
        d = conn.next(paths, window)
        if d is None:
            return failed
        try:
            fn(d)
        except Exception as e:
            traceback.print_exc()
            failed += 1
            if not d._done:
                conn.finish(d, False, "%s: %s" % (type(e).__name__, e))
