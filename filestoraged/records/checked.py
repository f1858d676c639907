"""Records whose store is asked again, while the daemon serves, whether it
still honours conditional writes (``--records s3``).

Start-up refuses a store that ignores them (``bucket.probe``), but a store
can change under a running daemon (a gateway swapped, a proxy put in
front): from then on every race would be last writer wins, silently (a
once-link given twice, a KV commit lost). So before a conditional write,
if the last probe is older than ``PROBE_EVERY``, the store is probed
first (by one thread; the others wait for its answer). A store found
ignoring them is refused: every conditional write answers 503 and the
finding is logged at ERROR, until a probe (again at most every
``PROBE_EVERY``) finds it honouring them. A probe is five small requests,
so this costs at most one every ``PROBE_EVERY`` seconds per process.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Iterator, Optional, Tuple

from ..base.doorbell import Doorbell
from ..base.interprocess import ChangeMark
from ..errors import BackendUnavailable
from .bucket import UnsafeStore, probe
from .interface import Record, Records

log = logging.getLogger(__name__)

PROBE_EVERY = 10.0  # seconds a probe's good answer is trusted for


class CheckedRecords(Records):
    def __init__(self, inner: Records, where: str, every: float = PROBE_EVERY,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``inner``: the records written through; ``where``: the store's
        address, for messages; ``clock``: when probes were made (tests move it)."""
        self.inner = inner
        self.where = where
        self.every = every
        self.clock = clock
        self._lock = threading.Lock()
        self._probed_at: Optional[float] = None
        self._unsafe: Optional[str] = None  # what the last probe found, if the store failed it

    def _trusted(self) -> None:
        """Return if the store honoured conditional writes at a probe less
        than ``every`` ago (probing now if not); else ``BackendUnavailable``."""
        with self._lock:
            if self._probed_at is None or self.clock() - self._probed_at >= self.every:
                try:
                    probe(self.inner, self.where)
                except UnsafeStore as error:
                    if self._unsafe is None:
                        log.error("%s: conditional writes are refused until it honours them again", error.text)
                    self._unsafe = error.text
                else:
                    if self._unsafe is not None:
                        log.warning("the object store at %s honours conditional writes again", self.where)
                    self._unsafe = None
                self._probed_at = self.clock()
            if self._unsafe is not None:
                raise BackendUnavailable(self._unsafe)

    def get(self, key: str) -> Optional[Record]:
        return self.inner.get(key)

    def create(self, key: str, value: dict) -> str:
        self._trusted()
        return self.inner.create(key, value)

    def replace(self, key: str, value: dict, version: str) -> str:
        self._trusted()
        return self.inner.replace(key, value, version)

    def delete(self, key: str, version: Optional[str] = None) -> bool:
        if version is not None:
            self._trusted()
        return self.inner.delete(key, version)

    def keys(self, prefix: str, after: str = "", limit: Optional[int] = None) -> Iterator[str]:
        return self.inner.keys(prefix, after, limit)

    def items(self, prefix: str, after: str = "", limit: Optional[int] = None) -> Iterator[Tuple[str, Record]]:
        return self.inner.items(prefix, after, limit)

    def now(self) -> float:
        return self.inner.now()

    def generation(self) -> Optional[object]:
        return self.inner.generation()

    def change_mark(self, subject: str) -> Optional[ChangeMark]:
        return self.inner.change_mark(subject)

    def doorbell(self, subject: str) -> Optional[Doorbell]:
        return self.inner.doorbell(subject)

    @property
    def atomic(self) -> bool:  # type: ignore[override]
        return self.inner.atomic

    @property
    def serializes(self) -> bool:  # type: ignore[override]
        return self.inner.serializes

    def serialized(self, block):
        return self.inner.serialized(block)

    def batch(self):
        return self.inner.batch()

    def close(self) -> None:
        self.inner.close()
