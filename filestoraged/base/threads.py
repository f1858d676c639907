"""The one small thread core: work beside the caller's thread, bounded, with
every failure handed back to the caller.

SHA-256, zlib, file and socket calls release the GIL, so a second thread doing
one of them while the first does another really runs in parallel. Two shapes
cover every use here:

- ``Stage``: a thread that consumes items from a bounded queue, in order
  (memcached writes, the running SHA-256 of a read, block digests beside an
  upload, ``fdatasync`` while an upload arrives). ``wait`` is the join point:
  after it the stage holds no item, so a buffer lent to it can be reused.
- ``ahead``: ``map`` on worker threads, a bounded number of calls ahead of the
  consumer, results in order (memcached windows, disk blocks).

``Pool`` keeps one kind of costly call on a few long-lived threads with a
bounded queue in front (password hashing: see its docstring). ``Reused``
runs each call on a thread of its own, taken from those that finished a
call a moment ago when there is one (a connection each: see its docstring).

Helpers (the threads of a ``Stage``, ``ahead`` and a ``Pool``) do their
work outside the interpreter lock. Where a worker keeps its own threads on
one CPU (``helpers_run_on``), they run on a wider set, so that that work
still has a core of its own.
"""

from __future__ import annotations

import os
import queue
import threading
import weakref
from collections import deque
from functools import partial
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Callable, FrozenSet, Generic, Iterable, Iterator, List, Optional, Tuple, TypeVar

T = TypeVar("T")
U = TypeVar("U")
_DONE = object()
# The CPUs helper threads started from now on run on (``helpers_run_on``);
# None: those of the thread that starts them, as any thread's.
_HELPERS_CPUS: Optional[FrozenSet[int]] = None


def helpers_run_on(cpus: Optional[Iterable[int]]) -> None:
    """Helper threads this process starts from now on run on ``cpus`` (None:
    where the thread starting them runs). For a worker whose own threads keep
    one CPU: see ``workers/affinity``."""
    global _HELPERS_CPUS
    _HELPERS_CPUS = None if cpus is None else frozenset(cpus)


def _as_helper() -> None:
    """The calling thread, a helper just started, moves to the helpers' CPUs;
    where it may not, it stays where it is (only slower)."""
    if _HELPERS_CPUS is not None:
        try:
            os.sched_setaffinity(0, _HELPERS_CPUS)
        except OSError:
            pass


class Stage(Generic[T]):
    """Calls ``consume(item)`` in its own thread for each item submitted, at
    most ``depth`` items queued. The thread starts with the first item, so a
    stage that is never fed costs nothing. Use as a context manager (``close``)."""

    def __init__(self, consume: Callable[[T], object], depth: int = 1, name: str = "stage") -> None:
        self._consume = consume
        self._depth = depth
        # Made with the thread (``_start``): most stages are never fed.
        self._queue: "Optional[queue.Queue[object]]" = None
        self._progress: Optional[threading.Condition] = None
        self._error: Optional[BaseException] = None
        self._thread: Optional[threading.Thread] = None
        self._name = name
        self._submitted = 0  # items queued so far; the n-th item is item n
        self._consumed = 0

    def submit(self, item: T) -> int:
        """Queue ``item``, waiting for room; its number (for ``wait``). Raises
        the failure of an earlier item."""
        queue_ = self._start()
        queue_.put(item)
        self._submitted += 1
        return self._submitted

    def offer(self, item: T) -> bool:
        """Queue ``item`` only if there is room now (for hints that coalesce,
        such as "flush"); raise the failure of an earlier item."""
        queue_ = self._start()
        try:
            queue_.put_nowait(item)
        except queue.Full:
            return False
        self._submitted += 1
        return True

    def wait(self, upto: Optional[int] = None) -> None:
        """Wait until items up to number ``upto`` (default: all submitted) were
        consumed, so buffers lent with them can be reused; re-raise a failure."""
        target = self._submitted if upto is None else upto
        if self._progress is None:  # nothing was ever submitted
            return
        with self._progress:
            self._progress.wait_for(lambda: self._consumed >= target or self._error is not None)
        self._raise_if_failed()

    def finish(self) -> None:
        """Wait for everything submitted, stop the thread, re-raise a failure."""
        self.close()
        self._raise_if_failed()

    def close(self) -> None:
        """Stop the thread after the items already queued; never raises."""
        if self._thread is not None and self._thread.is_alive():
            assert self._queue is not None
            self._queue.put(_DONE)
            self._thread.join()

    def __enter__(self) -> "Stage[T]":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _start(self) -> "queue.Queue[object]":
        """The stage's queue, its thread started with the first item."""
        self._raise_if_failed()
        if self._queue is None:
            self._queue, self._progress = queue.Queue(self._depth), threading.Condition()
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()
        return self._queue

    def _run(self) -> None:
        assert self._queue is not None and self._progress is not None
        _as_helper()
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            try:
                if self._error is None:  # after a failure, items are dropped unconsumed
                    self._consume(item)  # type: ignore[arg-type]
            except BaseException as error:  # handed back in submit/offer/wait/finish
                self._error = error
            with self._progress:
                self._consumed += 1
                self._progress.notify_all()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error


def ahead(function: Callable[[T], U], items: Iterable[T], workers: int = 1, depth: int = 2) -> Iterator[U]:
    """``map(function, items)`` on ``workers`` threads, at most ``depth`` calls
    submitted ahead of the consumer, results in order; a call's exception is
    raised where its result would be. Closing the generator cancels the calls
    not started and waits for the running ones (they may use the caller's
    resources, such as a file descriptor about to be closed).

    The threads are ``Reused`` ones, shared by every ``ahead`` of the process:
    a pool of new threads for each call cost a 1 MiB range 0.34 ms of its
    1.2 ms (two threads started, then joined)."""
    work: "queue.SimpleQueue[Optional[Tuple[Future, T]]]" = queue.SimpleQueue()
    pending: "deque[Future[U]]" = deque()
    started = 0

    def serve() -> None:
        while True:
            job = work.get()
            if job is None:
                return
            future, item = job
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(function(item))
                except BaseException as error:  # handed to the consumer, where the result would be
                    future.set_exception(error)

    try:
        for item in items:
            future: "Future[U]" = Future()
            work.put((future, item))
            pending.append(future)
            if started < workers:
                _AHEAD.run(serve)
                started += 1
            if len(pending) >= depth:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()  # only those not started
        for _ in range(started):
            work.put(None)
        wait(pending)


class PoolBusy(Exception):
    """More calls are waiting for a ``Pool`` than it lets queue."""


class Pool:
    """``workers`` long-lived threads for one kind of costly call, and at most
    ``waiting`` more calls queued; past that ``run`` raises ``PoolBusy`` at once.

    Decision: a scrypt check takes 16 MiB for ~50 ms. Run on whichever
    connection thread asked, 100 concurrent checks took RSS from 27 MB to
    about 1 GB, and the C allocator kept most of it (per-thread arenas). On
    two threads the memory is bounded and reused, and the queue bound turns a
    burst into quick refusals instead of a pile of waiting requests."""

    def __init__(self, workers: int, waiting: int, name: str) -> None:
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix=name, initializer=_as_helper)
        self._admitted = threading.BoundedSemaphore(workers + waiting)

    def run(self, function: Callable[..., U], *args) -> U:
        if not self._admitted.acquire(blocking=False):
            raise PoolBusy()
        try:
            return self._executor.submit(function, *args).result()
        finally:
            self._admitted.release()

    def close(self) -> None:
        self._executor.shutdown(wait=True)


class _Idle:
    """An idle ``Reused`` thread's slot: the next call, and the lock (held
    while there is none) it sleeps on."""

    __slots__ = ("call", "ready")

    def __init__(self) -> None:
        self.call: Optional[Tuple[Callable[..., object], tuple]] = None
        self.ready = threading.Lock()
        self.ready.acquire()


class Reused:
    """A thread per call, reused: a thread whose call has returned waits up
    to ``idle`` seconds for the next call before it ends. Not bounded: its
    callers are (connection slots).

    Decision: starting a thread took 130-200 us of the 450-700 us a new
    connection waited for its first answer byte (``Thread.start`` waits
    until the new thread runs); handing a call to a waiting thread is one
    lock release. The thread idle last is woken first, so the others time
    out after a burst. A call's exception ends its thread, as it would a
    thread of its own."""

    def __init__(self, idle: float, name: str, helpers: bool = False) -> None:
        """``helpers``: its threads are helpers (see the module docstring)."""
        self._idle = idle
        self._name = name
        self._helpers = helpers
        self._lock = threading.Lock()
        self._waiting: List[_Idle] = []  # idle threads, the last one idle at the end
        self._closed = False
        # A forked child has none of these threads: a call handed to one would never run.
        os.register_at_fork(after_in_child=partial(_forget_threads, weakref.ref(self)))

    def run(self, function: Callable[..., object], *args) -> None:
        """Call ``function(*args)`` on an idle thread, or else on a new one."""
        with self._lock:
            if self._waiting:
                slot = self._waiting.pop()
                slot.call = (function, args)
                slot.ready.release()
                return
        threading.Thread(target=self._serve, args=(function, args), name=self._name, daemon=True).start()

    def idle(self) -> int:
        """How many threads wait for a call now."""
        with self._lock:
            return len(self._waiting)

    def close(self) -> None:
        """End the idle threads; the busy ones end after their call."""
        with self._lock:
            self._closed = True
            waiting, self._waiting = self._waiting, []
        for slot in waiting:
            slot.ready.release()  # with no call: the thread ends

    def _serve(self, function: Callable[..., object], args: tuple) -> None:
        if self._helpers:
            _as_helper()
        slot = _Idle()
        while True:
            function(*args)
            function = args = None  # type: ignore[assignment]  # nothing of the last call is kept while idle
            with self._lock:
                if self._closed:
                    return
                self._waiting.append(slot)
            if not slot.ready.acquire(timeout=self._idle):
                with self._lock:
                    if slot in self._waiting:  # nobody came: end
                        self._waiting.remove(slot)
                        return
                slot.ready.acquire()  # taken just now: its call is being handed over
            if slot.call is None:  # closed
                return
            (function, args), slot.call = slot.call, None


def _forget_threads(reused: "weakref.ref[Reused]") -> None:
    """In a forked child: the parent's idle threads are not there."""
    threads = reused()
    if threads is not None:
        threads._lock = threading.Lock()
        threads._waiting = []


# The threads every ``ahead`` runs on (idle ones end after 10 s).
_AHEAD = Reused(10.0, "ahead", helpers=True)
