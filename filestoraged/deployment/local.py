"""``--records local``: one machine's daemon and its workers, their records
in ``<data-dir>/meta.db`` (SQLite), share-link reservations held by worker
pid and given back when a worker dies."""

from __future__ import annotations

import os
from typing import List, Optional, Set, Tuple

from ..catalog.keys_check import KeysReport, check_keys
from ..catalog.upload_marks import UploadMarks
from ..catalog.unfinished import upload_ids
from ..kvstore.store import KVStore
from ..kvstore.tables import move_tables
from ..records.interface import Records
from ..base.interprocess import NamedLocks, run_dir
from ..records.local import LocalRecords
from ..sharing.fsck import check_links
from ..sharing.sweep import give_back
from .base import FORMS, Deployment

META_DB = "meta.db"


class OneMachine(Deployment):
    @property
    def meta_db(self) -> str:
        return os.path.join(self.config.data_dir, META_DB)

    def open_records(self, s3_client=None) -> Tuple[Records, Records]:
        # The throttle only counts failed attempts: no fsync (a power cut
        # forgets at most a minute of them).
        return (LocalRecords(self.meta_db, clock=self.clock, queue=self._queue()),
                LocalRecords(self.meta_db, durable=False, clock=self.clock, queue=self._queue()))

    def kv_store(self, records: Optional[Records]) -> KVStore:
        # A connection of its own: a commit's transaction (and its fsync)
        # keeps no token or share-link read waiting.
        return KVStore(LocalRecords(self.meta_db, clock=self.clock, queue=self._queue()), self.kv_limits(),
                       own=True)

    def _queue(self) -> str:
        """The lock file every writer of ``meta.db`` takes turns by."""
        return self._run_file("lock")

    def pin_locks(self) -> NamedLocks:
        return NamedLocks(self._run_file("pins"))

    def upload_marks(self) -> UploadMarks:
        return UploadMarks(run_dir(self.config.data_dir))

    def _run_file(self, suffix: str) -> str:
        """``run/meta.db.<suffix>``: a file ``meta.db``'s users share while a daemon runs."""
        return os.path.join(run_dir(self.config.data_dir), "%s.%s" % (META_DB, suffix))

    def holder(self) -> Optional[str]:
        return str(os.getpid())

    def begin(self, records: Records, worker: Optional[int]) -> None:
        if worker is None:  # a daemon alone does what the parent of workers does in prepare
            give_back(records)
            self._move_kv_tables()
        super().begin(records, worker)

    def prepare(self) -> None:
        super().prepare()
        self._move_kv_tables()
        records = LocalRecords(self.meta_db)
        try:
            for form in FORMS:
                form.run(records)
        finally:
            records.close()

    def forms_behind(self) -> List[str]:
        records = LocalRecords(self.meta_db)
        try:
            return [form.what for form in FORMS if not form.done(records)]
        finally:
            records.close()

    def _move_kv_tables(self) -> None:
        """The key-value tables of an earlier version move into the records."""
        store = self.kv_store(None)
        try:
            move_tables(self.meta_db, store)
        finally:
            store.close()

    def give_back_holds(self, pid: Optional[int]) -> None:
        records = LocalRecords(self.meta_db)
        try:
            give_back(records, None if pid is None else str(pid))
        finally:
            records.close()

    def check_links(self, repair: bool) -> List[str]:
        return check_links(self.meta_db, repair)

    def check_keys(self, backend, repair: bool) -> Optional[KeysReport]:
        records = LocalRecords(self.meta_db)
        try:
            return check_keys(records, backend, repair)
        finally:
            records.close()

    def upload_ids(self) -> Optional[Set[str]]:
        """The uploads this machine's records hold; None where the parts
        are in an S3 bucket: other daemons, each with records of its own,
        may keep uploads there too (``--backend s3`` takes any number over
        one bucket), which these records do not name."""
        if self.config.backend == "s3" or not os.path.exists(self.meta_db):
            return None  # (a data directory with no records of this store: nothing judged either)
        records = LocalRecords(self.meta_db)
        try:
            return upload_ids(records)
        finally:
            records.close()
