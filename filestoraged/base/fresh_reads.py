"""One read shared by every caller that needs an answer taken after it asked.

A hot small object on memcached is served from a worker's memory only after
a round trip proves its item unchanged (its CAS token). Under load dozens of
threads ask that of the same key at once, and each round trip costs the
daemon a blocking receive and memcached its own CPU (18-23 us per request,
measured). ``FreshReads`` lets them share: a caller whose key has no read in
flight sends one; a caller that arrives while one is in flight waits for the
next read, sent after it arrived, which serves everyone waiting by then. So
no caller gets an answer older than its own request, and a key busy with N
callers has one round trip in flight at a time instead of N (measured with
64 connections on one key: 0.14-0.43 round trips per request, fewer the
longer a read takes).
"""

from __future__ import annotations

import threading
from typing import Callable, Dict, Generic, Hashable, List, Optional, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _Batch(Generic[V]):
    """Callers waiting for the next read of a key: each sleeps on a lock of
    its own (``waiters``, held until it is woken); ``sender`` is the one of
    them woken to send the read, the rest are woken once ``value`` is in."""

    __slots__ = ("waiters", "sender", "value")

    def __init__(self) -> None:
        self.waiters: List[threading.Lock] = []
        self.sender: Optional[threading.Lock] = None
        self.value: Optional[V] = None


class _Flight(Generic[V]):
    """A key with a read in flight, and the batch waiting for the next one."""

    __slots__ = ("next",)

    def __init__(self) -> None:
        self.next: Optional[_Batch[V]] = None


class FreshReads(Generic[K, V]):
    """``get(key)``: ``read(key)``'s answer, from a read sent after the call.
    ``read`` should not raise (an exception reaches only the caller that sent
    the read; the others wait for the next one).

    Decision: a waiter sleeps once and wakes to its answer without taking a
    shared lock again. Callers that arrive during a read join one batch;
    when the read ends, its sender wakes one of the batch to send the next
    read, and that one, once answered, wakes the rest with the value in
    hand. (Conditions on the shared lock made every woken waiter take that
    lock again, one after another; measured against them, 15,216 -> 16,470
    hot 1 KiB GETs a second.)"""

    def __init__(self, read: Callable[[K], V]) -> None:
        self._read = read
        self._lock = threading.Lock()
        self._flights: Dict[K, _Flight[V]] = {}

    def get(self, key: K) -> V:
        with self._lock:
            flight = self._flights.get(key)
            if flight is None:  # nothing in flight: send one now
                self._flights[key] = _Flight()
                batch: _Batch[V] = _Batch()
                mine = None
            else:
                batch = flight.next or _Batch()
                flight.next = batch
                mine = threading.Lock()
                mine.acquire()
                batch.waiters.append(mine)
        if mine is not None:
            mine.acquire()  # released by a sender: with the answer, or to send
            if batch.sender is not mine:
                return batch.value  # type: ignore[return-value]
            with self._lock:  # callers arriving from now on wait for a later read
                flight = self._flights[key]
                if flight.next is batch:  # (else sent again after a failure: already apart)
                    flight.next = None
        try:
            value = self._read(key)
        except BaseException:
            with self._lock:
                self._ended(key, batch, mine, failed=True)
            raise
        with self._lock:
            batch.value = value
            self._ended(key, batch, mine, failed=False)
        return value

    def _ended(self, key: K, batch: _Batch[V], mine: Optional[threading.Lock], failed: bool) -> None:
        """Under the lock, the read of ``batch`` (sent by ``mine``) ended: wake
        the batch (or, if it failed, one of it to send again), then hand the
        next read to the batch waiting for it; else nothing is in flight."""
        if mine is not None:
            batch.waiters.remove(mine)
        if failed and batch.waiters:
            batch.sender = batch.waiters[0]
            batch.sender.release()
            return
        for waiter in batch.waiters:
            waiter.release()
        flight = self._flights[key]
        waiting = flight.next
        if waiting is None:
            del self._flights[key]
        else:
            waiting.sender = waiting.waiters[0]
            waiting.sender.release()

    def waiting(self, key: K) -> int:
        """How many callers wait for a read of ``key`` not sent yet."""
        with self._lock:
            flight = self._flights.get(key)
            return len(flight.next.waiters) if flight is not None and flight.next is not None else 0
