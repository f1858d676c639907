"""``--records local``: one machine's daemon and its workers, their records
in ``<data-dir>/meta.db`` (SQLite), share-link reservations held by worker
pid and given back when a worker dies."""

from __future__ import annotations

import os
from typing import List, Optional, Tuple

from ..kvstore.local import KVStore
from ..records.interface import Records
from ..records.local import LocalRecords
from ..sharing.fsck import check_links
from ..sharing.sweep import give_back
from .base import Deployment

META_DB = "meta.db"


class OneMachine(Deployment):
    @property
    def meta_db(self) -> str:
        return os.path.join(self.config.data_dir, META_DB)

    def open_records(self, s3_client=None) -> Tuple[Records, Records]:
        # The throttle only counts failed attempts: no fsync (a power cut
        # forgets at most a minute of them).
        return (LocalRecords(self.meta_db, clock=self.clock),
                LocalRecords(self.meta_db, durable=False, clock=self.clock))

    def kv_store(self, records: Records, limits):
        # Decision: the KV store keeps a SQLite form of its own on one
        # machine. Over the records (SharedKVStore on LocalRecords) a
        # 1-key set and commit ran 563/s against 2,006/s, a lookup
        # 57,000/s against 167,000/s (same process, interleaved).
        return KVStore(self.meta_db, limits)

    def holder(self) -> Optional[str]:
        return str(os.getpid())

    def begin(self, records: Records, worker: Optional[int]) -> None:
        if worker is None:  # a daemon alone gives back what a previous run left (workers: the parent does)
            give_back(records)

    def give_back_holds(self, pid: Optional[int]) -> None:
        records = LocalRecords(self.meta_db)
        try:
            give_back(records, None if pid is None else str(pid))
        finally:
            records.close()

    def check_links(self, repair: bool) -> List[str]:
        return check_links(self.meta_db, repair)
