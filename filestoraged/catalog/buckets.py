"""S3 buckets, one record each (``s3/buckets/<name>``): a bucket is the
repository of the same name (``/data/<name>``), made a bucket when it is
created through the S3 API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

from ..errors import Conflict, NotFound
from ..records.interface import Conflict as RecordConflict, Records

BUCKETS = "s3/buckets/"


@dataclass(frozen=True)
class Bucket:
    name: str
    created: float
    region: str  # the LocationConstraint it was made with ("" for the default)


class Buckets:
    def __init__(self, records: Records) -> None:
        self.records = records

    def create(self, name: str, region: str = "") -> Bucket:
        """A new bucket; ``Conflict`` (BucketAlreadyOwnedByYou) if it exists."""
        bucket = Bucket(name, self.records.now(), region)
        try:
            self.records.create(BUCKETS + name, {"created": bucket.created, "region": region})
        except RecordConflict:
            raise Conflict("the bucket %s exists already" % name).as_s3("BucketAlreadyOwnedByYou") from None
        return bucket

    def get(self, name: str) -> Optional[Bucket]:
        record = self.records.get(BUCKETS + name)
        if record is None:
            return None
        return Bucket(name, float(record.value["created"]), str(record.value.get("region") or ""))

    def require(self, name: str) -> Bucket:
        """The bucket; ``NotFound`` (NoSuchBucket) if there is none."""
        bucket = self.get(name)
        if bucket is None:
            raise NotFound("no bucket %s" % name).as_s3("NoSuchBucket")
        return bucket

    def all(self) -> List[Bucket]:
        return [Bucket(key[len(BUCKETS):], float(record.value["created"]), str(record.value.get("region") or ""))
                for key, record in self.records.items(BUCKETS)]

    def delete(self, name: str) -> None:
        if not self.records.delete(BUCKETS + name):
            raise NotFound("no bucket %s" % name).as_s3("NoSuchBucket")
