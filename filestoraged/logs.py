"""Logging set-up: stderr; under systemd plain lines that carry their priority;
the access log in batches.

journald stamps each line with its own time, and reads a ``<N>`` prefix
(sd-daemon(3)) as the line's priority: without it every line, errors too,
would be filed as "info".

The access log (``filestoraged.access``, a line per request) is the one
busy logger: written a line at a time, a write and a flush per request, it
cost 17-19 % of the 1 KiB GET rate. ``BatchedHandler`` gathers its lines
and writes a batch ``FLUSH_EVERY`` seconds after its first line (sooner
past ``BATCH_BYTES``), and at every clean exit (``logging.shutdown``, which
workers call before they exit), so no line is lost at a stop; an access
line reaches the log at most ``FLUSH_EVERY`` seconds after its request,
and may land after other lines logged meanwhile. Workers share stderr, so
each write is at most ``PIPE_BUF`` bytes of whole lines: the kernel never
interleaves such a write with another process's, and no line is ever half
written.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from typing import List, Optional

# logging level -> syslog priority: err, warning, info, debug.
_PRIORITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6, logging.DEBUG: 7}
FLUSH_EVERY = 0.2  # seconds an access line may wait
BATCH_BYTES = 64 * 1024  # ... or until this much is gathered
PIPE_BUF = 4096  # a write to a pipe this size or smaller is atomic (POSIX); longer lines are cut
ACCESS = "filestoraged.access"
_ACCESS = logging.getLogger(ACCESS)  # loggers are for ever: looked up once, not on every request
_batched: Optional["BatchedHandler"] = None  # the one configure made


def priority(level: int) -> str:
    """The ``<N>`` prefix a line written to stderr without ``logging`` needs
    under journald (the start line, a failure to start); none elsewhere."""
    return "<%d>" % _PRIORITY.get(level, 6) if os.environ.get("JOURNAL_STREAM") else ""


class Formatter(logging.Formatter):
    """``logging.Formatter`` with the time text made once a second, not once a
    line (``strftime`` was a tenth of an access line's cost)."""

    _second = -1
    _text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: Optional[str] = None) -> str:  # noqa: N802
        second = int(record.created)
        if second != self._second:
            self._text = time.strftime("%Y-%m-%d %H:%M:%S", self.converter(second))
            self._second = second
        return "%s,%03d" % (self._text, record.msecs)


class JournalFormatter(Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return "<%d>%s" % (_PRIORITY.get(record.levelno, 6), super().format(record))


class BatchedHandler(logging.StreamHandler):
    """A stream handler that writes its lines in batches (see the module
    docstring), from a thread of its own in each process."""

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self._lines: List[bytes] = []
        self._size = 0
        self._write_lock = threading.Lock()  # batches leave in the order they were taken
        self._pending = threading.Event()  # a line came since the last batch left: the thread wakes
        self._full = threading.Event()  # ... and writes at once (BATCH_BYTES gathered, or a close)
        self._closed = False
        self._thread: Optional[threading.Thread] = None
        self._pid = -1
        self._second = -1  # the second the fast path's prefix was made for ...
        self._prefix = ("", "", "")  # ... the text before its milliseconds (if any), after them, after the message
        os.register_at_fork(after_in_child=self._after_fork)

    def emit(self, record: logging.LogRecord) -> None:
        """Called with ``self.lock`` held (``Handler.handle``)."""
        try:
            line = (self.format(record).replace("\n", " ") + "\n").encode("utf-8", "backslashreplace")
        except Exception:
            self.handleError(record)
            return
        self._take(line)

    def _take(self, line: bytes) -> None:
        """Gather one line (cut to ``PIPE_BUF``); call with ``self.lock`` held."""
        if len(line) > PIPE_BUF:
            line = line[:PIPE_BUF - 4] + b"...\n"
        if not self._lines:  # the first of a batch (set() takes a lock: once a batch)
            self._pending.set()
        self._lines.append(line)
        self._size += len(line)
        if self._pid == -1:  # the first line of this process (see _after_fork): no getpid() per line
            self._start()
        if self._size >= BATCH_BYTES and not self._full.is_set():
            self._full.set()

    def line(self, logger: logging.Logger, message: str) -> bool:
        """Take one INFO line of ``logger`` the fast way: formatted here as
        the formatter would, without a ``LogRecord`` (2.1 us a line with its
        formatting; 10 us through ``logging``). False if this handler is not
        the one serving ``logger`` now (a test's ``assertLogs`` took its place)."""
        handlers = logger.handlers
        if len(handlers) != 1 or handlers[0] is not self or self.formatter is None:
            return False
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            head, tail = self.formatter.format(logging.makeLogRecord(
                {"name": logger.name, "levelno": logging.INFO, "levelname": "INFO", "msg": "\0",
                 "created": second, "msecs": 0.0})).split("\0", 1)
            before, stamped, after = head.partition(",000 ")  # the time is in the line: milliseconds go there
            self._prefix = (before + ",", " " + after, tail) if stamped else (None, head, tail)
        before, after, tail = self._prefix
        if before is None:
            text = after + message.replace("\n", " ") + tail + "\n"
        else:
            text = "%s%03d%s%s%s\n" % (before, int((now - second) * 1000), after, message.replace("\n", " "), tail)
        with self.lock:  # type: ignore[union-attr]
            self._take(text.encode("utf-8", "backslashreplace"))
        return True

    def flush(self) -> None:
        # The handler's lock, then the write lock, hand over hand: batches
        # leave in the order they were taken, and a writer never waits for
        # the handler's lock (logging.shutdown holds it while it flushes).
        with self.lock:  # type: ignore[union-attr]
            lines, self._lines, self._size = self._lines, [], 0
            self._write_lock.acquire()
        try:
            self._write(lines)
        finally:
            self._write_lock.release()

    def _write(self, lines: List[bytes]) -> None:
        stream = self.stream
        try:
            fd = stream.fileno()
        except (AttributeError, OSError, ValueError):  # not a file (a test's StringIO)
            stream.write(b"".join(lines).decode("utf-8"))
            stream.flush()
            return
        stream.flush()  # anything written to it directly goes first
        batch, size = [], 0
        for line in lines + [b""]:
            if batch and (not line or size + len(line) > PIPE_BUF):
                data = b"".join(batch)
                while data:
                    data = data[os.write(fd, data):]
                batch, size = [], 0
            batch.append(line)
            size += len(line)

    def _start(self) -> None:
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="access-log", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        # Decision: asleep while no line waits (it woke every FLUSH_EVERY
        # seconds, five times a second in every worker of an idle daemon);
        # a batch's first line wakes it, and its lines leave FLUSH_EVERY
        # seconds later. Cleared before the batch is taken: a line after it
        # is the next batch's first.
        while not self._closed:
            self._pending.wait()
            self._full.wait(FLUSH_EVERY)
            self._pending.clear()
            self._full.clear()
            try:
                self.flush()
            except OSError:  # stderr gone (a closed pipe): nothing to be done but keep serving
                pass

    def _after_fork(self) -> None:
        """In a new worker: the parent's thread, write lock and lines are not
        ours (the parent writes its lines)."""
        self._lines, self._size = [], 0
        self._write_lock = threading.Lock()
        self._pending, self._full = threading.Event(), threading.Event()
        self._thread = None
        self._pid = -1

    def close(self) -> None:
        self._closed = True
        self._full.set()
        self._pending.set()
        try:
            self.flush()
        except (OSError, ValueError):
            pass
        super().close()


def configure(level: str) -> None:
    if os.environ.get("JOURNAL_STREAM"):
        formatter: logging.Formatter = JournalFormatter("%(levelname)s %(name)s: %(message)s")
    elif os.environ.get("INVOCATION_ID"):  # under systemd, not writing to the journal
        formatter = Formatter("%(levelname)s %(name)s: %(message)s")
    else:
        formatter = Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    batched = BatchedHandler(sys.stderr)
    batched.setFormatter(formatter)
    _ACCESS.handlers[:] = [batched]
    _ACCESS.propagate = False
    global _batched
    _batched = batched


def access_line(message: str) -> None:
    """One access-log line: the fast way when the batched handler serves the
    access logger, else through ``logging`` (tests capture it so)."""
    if _batched is None or not _batched.line(_ACCESS, message):
        _ACCESS.info("%s", message)


class Occasional:
    """A warning about a condition that may last (the process out of file
    descriptors, or of threads), logged at most once every ``every``
    seconds however often it is met: the operator learns of it, and a flood
    of connections does not flood the log."""

    def __init__(self, logger: logging.Logger, every: float = 60.0) -> None:
        self._logger = logger
        self._every = every
        self._last = -every
        self._lock = threading.Lock()

    def say(self, message: str) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last < self._every:
                return
            self._last = now
        self._logger.warning("%s", message)
