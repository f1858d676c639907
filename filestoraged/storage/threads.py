"""Small background-thread stages used to overlap hashing and network I/O.

SHA-256, zlib and socket calls release the GIL, so a second thread doing one
of them while the first does another really runs in parallel. Every stage is
bounded (a queue of at most ``depth`` items) so memory stays flat, and an
exception in the background is re-raised in the caller's thread.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Generic, Iterable, Iterator, Optional, TypeVar

T = TypeVar("T")
U = TypeVar("U")
_DONE = object()


class BackgroundSink(Generic[T]):
    """Calls ``consume(item)`` in its own thread for each item submitted."""

    def __init__(self, consume: Callable[[T], None], depth: int = 1, name: str = "sink") -> None:
        self._consume = consume
        self._queue: "queue.Queue[object]" = queue.Queue(depth)
        self._error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if self._error is None:
                try:
                    self._consume(item)  # type: ignore[arg-type]
                except BaseException as error:  # re-raised in submit/finish
                    self._error = error

    def submit(self, item: T) -> None:
        self._raise_if_failed()
        self._queue.put(item)

    def finish(self) -> None:
        """Wait until everything submitted was consumed; re-raise a failure."""
        self.close()
        self._raise_if_failed()

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_DONE)
            self._thread.join()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error


class BackgroundHash(BackgroundSink[bytes]):
    """SHA-256 of the pieces fed to it, computed in its own thread."""

    def __init__(self, depth: int = 8) -> None:
        self._digest = hashlib.sha256()
        super().__init__(self._digest.update, depth, name="sha256")

    def hexdigest(self) -> str:
        """Wait for every piece fed so far; the digest of them all."""
        self.finish()
        return self._digest.hexdigest()


def ordered_map(function: Callable[[T], U], items: Iterable[T], workers: int, depth: int) -> Iterator[U]:
    """``map(function, items)`` on ``workers`` threads, at most ``depth`` calls
    ahead of the consumer, results in order; a call's exception is raised
    where its result would be. Closing the generator cancels the calls not
    started and waits for the running ones (they may hold the caller's
    resources, such as a file descriptor about to be closed)."""
    pool = ThreadPoolExecutor(workers, thread_name_prefix="map")
    pending: "deque[Future[U]]" = deque()
    try:
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) >= depth:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def prefetch(items: Iterable[T], depth: int = 1) -> Iterator[T]:
    """Iterate ``items`` in a background thread, ``depth`` items ahead of the
    consumer. Closing the generator stops the producer at its next item."""
    out: "queue.Queue[object]" = queue.Queue(depth)
    stop = threading.Event()
    failure: list = []

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        out.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except BaseException as error:  # re-raised in the consumer
            failure.append(error)
        out.put(_DONE)

    thread = threading.Thread(target=produce, name="prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = out.get()
            if item is _DONE:
                if failure:
                    raise failure[0]
                return
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                out.get_nowait()
            except queue.Empty:
                pass
            thread.join(0.05)
