"""What every deployment mode answers: where the records are and how they
are opened, how long a token read is believed, the store's probe, who
holds share-link reservations and who gives back those of a process that
died; and the supervisor's one door to the leftovers of each subsystem:
``prepare`` before the first worker, ``recover`` after one died (gunicorn's
arbiter knows no application state either)."""

from __future__ import annotations

import abc
import os
from typing import Callable, List, Optional, Set, Tuple

from ..base.interprocess import NamedLocks
from ..catalog.keys_check import KeysReport
from ..catalog.old_versions import HEADS_FORM
from ..catalog.upload_marks import UploadMarks
from ..kvstore.store import KVLimits, KVStore
from ..records.interface import Records
from ..sharing.old_blobs import BLOBS_FORM
from ..storage.disk import indexing, quota, small_writes
from ..storage.disk.files import sweep_unfinished
from ..web import admission


# The forms of record families this code converts a store made before to
# (``records.once``), in order.
FORMS = (HEADS_FORM, BLOBS_FORM)


class Deployment(abc.ABC):
    # Seconds a token read from the records is believed (0: read on every use).
    token_cache_seconds = 0.0
    # Whether any daemon serves any request, so that what is unfinished (a
    # resumable upload) lives in the records and the store all of them share.
    shared = False

    def __init__(self, config, clock: Callable[[], float]) -> None:
        self.config = config
        self.clock = clock

    @abc.abstractmethod
    def open_records(self, s3_client=None) -> Tuple[Records, Records]:
        """``(records, throttle)``: where tokens, share links, the key-value
        store and Git LFS locks live, and where attempt limits are counted
        (the same object, or records that need not survive a power cut).
        ``s3_client``: the backend's, to share its connections."""

    def kv_store(self, records: Optional[Records]) -> KVStore:
        """The key-value store of ``/kv``, over ``records`` (the ones
        ``open_records`` gave) or records of its own."""
        return KVStore(records, self.kv_limits())

    def kv_limits(self) -> KVLimits:
        config = self.config
        return KVLimits(max_key=config.kv_max_key, max_value=config.kv_max_value,
                        max_staged_keys=config.kv_max_staged_keys, max_staged_bytes=config.kv_max_staged_bytes,
                        cache_keys=config.kv_cache_keys)

    def check_store(self) -> None:
        """Before serving: refuse a store on which races would go unseen
        (a start-up error, one line)."""

    def probe(self, records: Records) -> None:
        """Refuse ``records`` if their store ignores conditional writes."""

    def holder(self) -> Optional[str]:
        """What this process's share-link reservations begin with, where a
        dead process's are given back by name (None: random, left to lapse)."""
        return None

    def pin_locks(self) -> Optional[NamedLocks]:
        """The locks S3 uploads pin their bytes with, where every process
        that may remove them shares them (``catalog.claims``); None: pins
        are written in the records."""
        return None

    def upload_marks(self) -> Optional[UploadMarks]:
        """With ``pin_locks``: where S3 uploads mark new bytes under way,
        for the next process to find if theirs dies (``catalog.upload_marks``)."""
        return None

    def begin(self, records: Records, worker: Optional[int]) -> None:
        """A serving process starts with ``records`` (``worker``: its slot
        among workers; None: the daemon alone): a store made by an earlier
        version is brought to this code's forms first (``FORMS``; by one
        daemon, the others wait)."""
        for form in FORMS:
            form.run(records)

    def forms_behind(self) -> List[str]:
        """What of the store is not in this code's form (``FORMS``): where
        something is, the parent of workers upgraded in place stops every
        old worker before its own start. Nothing where the records are shared
        beyond this machine: there every daemon stops before an upgrade
        that converts them (docs/operations.md)."""
        return []

    def give_back_holds(self, pid: Optional[int]) -> None:
        """Share-link reservations of the process ``pid`` (None: of every
        process of an earlier run), where they are given back by name."""

    def check_links(self, repair: bool) -> List[str]:
        """``fsck``: share-link values no header may carry, a line each
        (cleared with ``repair``)."""
        return []

    def check_keys(self, backend, repair: bool) -> Optional[KeysReport]:
        """``fsck``: the S3 keys and versions against the bytes they name
        (``catalog.keys_check``; None: the records are not here)."""
        return None

    def upload_ids(self) -> Optional[Set[str]]:
        """``fsck``, and a start after a stop midway: the ids of the
        unfinished uploads the records hold, whose parts are in the store
        (``parts/<id>``; None: not known here, nothing is judged)."""
        return None

    def prepare(self) -> None:
        """Before the first worker: what a previous run left is dropped,
        uploads a crash interrupted are swept, reservations given back."""
        data_dir = self.config.data_dir
        admission.start_afresh(data_dir)
        quota.start_afresh(data_dir)
        if self.config.backend == "disk":
            tmp_dir = os.path.join(data_dir, ".tmp")
            os.makedirs(tmp_dir, exist_ok=True)
            sweep_unfinished(tmp_dir)
            restored = small_writes.replay(data_dir)
            indexing.begin_run(data_dir)
            if restored:
                indexing.mark_dirty(data_dir, "the journal gave back objects a crash had left missing")
        self.give_back_holds(None)

    def recover(self, pid: int, slot: int) -> None:
        """What the dead worker ``pid`` (in ``slot``) held: its connections,
        its uploads' temporary files, its share-link reservations, the bytes
        its writes held against bucket quotas (its usage slot is reset by
        the next worker that takes it); and the object
        index is checked, as a publish or a delete may have stopped midway."""
        admission.recover(self.config.data_dir, slot)
        sweep_unfinished(os.path.join(self.config.data_dir, ".tmp"), pid)
        if self.config.backend == "disk":
            indexing.mark_dirty(self.config.data_dir, "worker %d stopped unexpectedly" % pid)
            indexing.release_held(self.config.data_dir, pid)
        self.give_back_holds(pid)

    def finish(self) -> None:
        """After the last worker stopped cleanly: the run is marked ended
        (the next start trusts what this one left)."""
        if self.config.backend == "disk":
            indexing.end_run(self.config.data_dir)
