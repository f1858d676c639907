"""``--records postgresql://…``: any number of daemons over one PostgreSQL
database for every record, the bytes in an S3 store (``--backend s3``),
as ``--records s3`` runs them (tokens read through a short cache, share
links' reservations on leases, unfinished uploads shared), the records in
a database made to hold them: a page of keys is one range read, a write a
statement (``records.postgres``)."""

from __future__ import annotations

from typing import Optional, Tuple

from ..catalog.keys_check import KeysReport, check_keys
from ..records.interface import Records
from ..records.postgres import PostgresRecords, address_of
from .bucket import SharedBucket


class SharedDatabase(SharedBucket):
    def open_records(self, s3_client=None) -> Tuple[Records, Records]:
        records = PostgresRecords(address_of(self.config.records), self.clock)
        return records, records

    def probe(self, records: Records) -> None:
        """Nothing to probe: PostgreSQL's conditional statements are what
        they say (an S3 store's conditional writes are what the probe
        checks)."""

    def check_keys(self, backend, repair: bool) -> Optional[KeysReport]:
        """``fsck``: the S3 keys and versions, a page of the index at a time, against the bytes in the store."""
        records, _ = self.open_records()
        try:
            return check_keys(records, backend, repair)
        finally:
            records.close()
