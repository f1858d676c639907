"""``--records s3``: any number of daemons over one bucket, every record in
it (tokens read through a short cache, share-link reservations on leases
that lapse by themselves), and a store that must honour conditional writes."""

from __future__ import annotations

from typing import Optional, Set, Tuple

from ..catalog.unfinished import upload_ids as multipart_ids
from ..records.bucket import BucketRecords, probe
from ..records.checked import CheckedRecords
from ..records.interface import Records
from ..storage.s3.client import configured
from ..tus.shared import upload_ids as resumable_ids
from .base import Deployment

# A token read is believed this long: the bound on how long a revocation
# takes to reach every daemon (a GET of the bucket per authenticated
# request otherwise).
TOKEN_CACHE_SECONDS = 2.0


class SharedBucket(Deployment):
    token_cache_seconds = TOKEN_CACHE_SECONDS
    shared = True

    def open_records(self, s3_client=None) -> Tuple[Records, Records]:
        records = CheckedRecords(BucketRecords(s3_client or configured(self.config), self.clock),
                                 self.config.s3_endpoint)
        return records, records

    def upload_ids(self) -> Optional[Set[str]]:
        """``fsck``: the uploads whose parts are in the store: S3 multipart
        uploads and, where the records are shared, resumable ones too."""
        records, _ = self.open_records()
        try:
            return multipart_ids(records) | resumable_ids(records)
        finally:
            records.close()

    def check_store(self) -> None:
        records, _ = self.open_records()
        try:
            self.probe(records)
        finally:
            records.close()

    def probe(self, records: Records) -> None:
        probe(records, self.config.s3_endpoint)
