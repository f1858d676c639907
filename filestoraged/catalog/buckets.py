"""S3 buckets, one record each (``s3/buckets/<name>``): a bucket is the
repository of the same name (``/data/<name>``), made a bucket when it is
created through the S3 API.

Deleting a bucket first closes it (its record says since when), then looks
for keys, then removes the record (or opens it again: BucketNotEmpty). A
key written meanwhile sees, once written, that its bucket is closed, gone
or made anew (``holds``) and takes itself back, so no key outlives its
bucket. A close left by a crash lapses after ``CLOSING_FOR``.

Every request reads its bucket, a write twice (before, and ``holds``
after): where the records tell changes (one machine's), a process keeps
copies of bucket records until any process changes a bucket
(``base.copies``). Every change here tells the copies once committed,
before its caller goes on: a delete's close is told before it looks for
keys, so a key written meanwhile either is found or finds the close.

A bucket may have an owner (a user's or a token's name: who made it, or
whom an admin gave it to), and an owner a quota (``s3/owners/<name>``)
that bounds all the owner's buckets together (docs/quotas.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

from ..base.copies import Copies
from ..errors import Conflict, NotFound
from ..records.interface import Conflict as RecordConflict, Records
from ..storage.interface import Bounds

BUCKETS = "s3/buckets/"
OWNERS = "s3/owners/"  # an owner's record: {"quota": bytes} (``set_owner_quota``)
CLOSING_FOR = 60.0  # seconds a bucket being deleted counts as closed (a crashed delete's lapses)


VERSIONING = ("Enabled", "Suspended")  # a bucket's versioning once set ("": never: every key one null version)


@dataclass(frozen=True)
class Bucket:
    name: str
    created: float
    region: str  # the LocationConstraint it was made with ("" for the default)
    versioning: str = ""  # "", or one of VERSIONING
    lock: Optional[dict] = None  # object lock on: {"default": {"mode", "days"}}, or {} without a default
    lifecycle: Optional[List[dict]] = None  # its lifecycle rules (``lifecycle.Rule``), if set
    tags: Optional[Dict[str, str]] = None  # its tags (S3 bucket tagging), if set
    acl: Optional[str] = None  # its canned ACL where it widens access (``s3api.acls``), if set
    cors: Optional[List[dict]] = None  # its CORS rules (``s3api.cors``), if set
    policy: Optional[str] = None  # its bucket policy, the JSON text as given (``s3api.policies``), if set
    public_block: Optional[Dict[str, bool]] = None  # its public access block (``s3api.public_access``), if set
    quota: Optional[int] = None  # the most bytes it may hold (``storage.disk.quota``), if set
    owner: Optional[str] = None  # the user or token whose quota counts it (``owner_quota``), if any
    replication: Optional[dict] = None  # where its new versions are copied (``catalog.replication``), if anywhere
    notifications: Optional[List[dict]] = None  # what its changes tell webhooks (``catalog.notifications``)


class Buckets:
    def __init__(self, records: Records) -> None:
        self.records = records
        # name -> its record's value and the bucket it makes (None: no record);
        # the bucket made once a copy, not once a request (two a PUT)
        self._copies: Copies[Optional[Tuple[dict, Bucket]]] = Copies(records.change_mark("buckets"))
        # the owners' buckets and quotas, read together: any change of a bucket or an owner drops them
        self._owners: Copies[Tuple[Dict[str, Tuple[str, ...]], Dict[str, int]]] = Copies(self._copies.mark)

    def _written(self, name: str, write: Callable[[], object]) -> None:
        """``write`` (a change of bucket ``name``'s record); the copies told
        after it, whether it went through or failed midway."""
        try:
            write()
        finally:
            self._copies.changed(name)

    def _read(self, name: str) -> Optional[Tuple[dict, Bucket]]:
        def read() -> Optional[Tuple[dict, Bucket]]:
            record = self.records.get(BUCKETS + name)
            return None if record is None else (record.value, _bucket(name, record.value))

        return self._copies.get(name, read)

    def create(self, name: str, region: str = "", locked: bool = False, acl: Optional[str] = None,
               owner: Optional[str] = None) -> Bucket:
        """A new bucket (``locked``: with object lock on, and so versioning;
        ``acl``: its canned ACL, if one widens access; ``owner``: the user or
        token that made it, whose quota counts it);
        ``Conflict`` (BucketAlreadyOwnedByYou) if it exists (the caller
        decides whether that is an error: ``s3api.buckets``)."""
        bucket = Bucket(name, self.records.now(), region, "Enabled" if locked else "", {} if locked else None,
                        acl=acl, owner=owner)
        value = {"created": bucket.created, "region": region}
        if acl is not None:
            value["acl"] = acl
        if owner is not None:
            value["owner"] = owner
        if locked:
            value.update(versioning="Enabled", lock={})
        try:
            self._written(name, lambda: self.records.create(BUCKETS + name, value))
        except RecordConflict:
            raise Conflict("the bucket %s exists already" % name).as_s3("BucketAlreadyOwnedByYou") from None
        return bucket

    def get(self, name: str) -> Optional[Bucket]:
        """The bucket, None if there is none or it is being deleted."""
        found = self._read(name)
        if found is None or self._closed(found[0]):
            return None
        return found[1]

    def set_versioning(self, bucket: Bucket, status: str) -> None:
        """Turn ``bucket``'s versioning on or suspend it (``NotFound`` if it
        went meanwhile). Once on, it is never off again, as in S3; with
        object lock on, it is never suspended (``Conflict``)."""
        def setting(value: dict) -> dict:
            if status != "Enabled" and value.get("lock") is not None:
                raise Conflict("versioning stays enabled in a bucket with object lock"
                               ).as_s3("InvalidBucketState")
            return dict(value, versioning=status)

        self._change(bucket, setting)

    def set_lock(self, bucket: Bucket, lock: dict) -> None:
        """Turn object lock on (``lock``: its default retention, or {}):
        versioning is then enabled for good (``Conflict`` if it was
        suspended, as S3 asks)."""
        def setting(value: dict) -> dict:
            if value.get("versioning") == "Suspended":
                raise Conflict("object lock needs versioning enabled: this bucket's is suspended"
                               ).as_s3("InvalidBucketState")
            return dict(value, versioning="Enabled", lock=lock)

        self._change(bucket, setting)

    def set_lifecycle(self, bucket: Bucket, rules: Optional[List[dict]]) -> None:
        """Set ``bucket``'s lifecycle rules (None: remove them)."""
        self._set(bucket, "lifecycle", rules)

    def set_acl(self, bucket: Bucket, acl: Optional[str]) -> None:
        """Set ``bucket``'s canned ACL (None: private)."""
        self._set(bucket, "acl", acl)

    def set_cors(self, bucket: Bucket, rules: Optional[List[dict]]) -> None:
        """Set ``bucket``'s CORS rules (None: remove them)."""
        self._set(bucket, "cors", rules)

    def set_public_block(self, bucket: Bucket, settings: Optional[Dict[str, bool]]) -> None:
        """Set ``bucket``'s public access block (None: remove it)."""
        self._set(bucket, "public_block", settings)

    def set_policy(self, bucket: Bucket, policy: Optional[str]) -> None:
        """Set ``bucket``'s policy (None: remove it)."""
        self._set(bucket, "policy", policy)

    def set_quota(self, bucket: Bucket, quota: Optional[int]) -> None:
        """Set ``bucket``'s quota in bytes (None: remove it)."""
        self._set(bucket, "quota", quota)

    def set_notifications(self, bucket: Bucket, configs: Optional[List[dict]]) -> None:
        """Set what ``bucket``'s changes tell webhooks (None: nothing)."""
        self._set(bucket, "notifications", configs)

    def set_replication(self, bucket: Bucket, rule: Optional[dict]) -> None:
        """Set where ``bucket``'s new versions are copied (None: nowhere)."""
        self._set(bucket, "replication", rule)

    def set_owner(self, bucket: Bucket, owner: Optional[str]) -> None:
        """Give ``bucket`` to ``owner`` (a user's or a token's name; None: nobody's)."""
        self._set(bucket, "owner", owner)

    def set_owner_quota(self, owner: str, quota: Optional[int]) -> None:
        """Set the most bytes ``owner``'s buckets may hold together (None: no bound)."""
        key = OWNERS + owner
        if quota is None:
            self._written(owner, lambda: self.records.delete(key))
        else:
            self._written(owner, lambda: self.records.update(key, lambda value: dict(value or {}, quota=quota)))

    def owners(self) -> Tuple[Dict[str, Tuple[str, ...]], Dict[str, int]]:
        """Every owner's buckets, and every owner's quota (of those that have
        one), by the owner's name: read together, kept until a change."""
        def read() -> Tuple[Dict[str, Tuple[str, ...]], Dict[str, int]]:
            owned: Dict[str, List[str]] = {}
            for bucket in self.all():
                if bucket.owner is not None:
                    owned.setdefault(bucket.owner, []).append(bucket.name)
            quotas = {key[len(OWNERS):]: int(record.value["quota"]) for key, record in self.records.items(OWNERS)}
            return {owner: tuple(names) for owner, names in owned.items()}, quotas

        return self._owners.get("", read)

    def bounds(self, bucket: Bucket) -> Bounds:
        """What ``bucket``'s bytes count against: its quota, its owner's."""
        if bucket.owner is None:
            return Bounds(bucket.name, bucket.quota)
        owned, quotas = self.owners()
        return Bounds(bucket.name, bucket.quota, bucket.owner, quotas.get(bucket.owner),
                      owned.get(bucket.owner) or (bucket.name,))

    def set_tags(self, bucket: Bucket, tags: Optional[Dict[str, str]]) -> None:
        """Set ``bucket``'s tags (None: remove them)."""
        self._set(bucket, "tags", tags)

    def _set(self, bucket: Bucket, name: str, setting) -> None:
        """One setting of ``bucket``'s record set (None: removed)."""
        def changing(value: dict) -> dict:
            value = dict(value)
            if setting is None:
                value.pop(name, None)
            else:
                value[name] = setting
            return value

        self._change(bucket, changing)

    def _change(self, bucket: Bucket, change) -> None:
        def changing(value: Optional[dict]) -> Optional[dict]:
            if value is None or self._closed(value) or float(value["created"]) != bucket.created:
                raise NotFound("no bucket %s" % bucket.name).as_s3("NoSuchBucket")
            return change(value)

        self._written(bucket.name, lambda: self.records.update(BUCKETS + bucket.name, changing))

    def standing(self, bucket: Bucket) -> Bucket:
        """``bucket`` (as a request looked it up) with its settings as its
        record holds them now, read from the records and never from a copy:
        what a write or a delete is judged by at its commit. A request's own
        view may be hours old (a body sent slowly), and a change of
        versioning or object lock meanwhile must not be undone by it.
        ``NotFound`` (NoSuchBucket) if the bucket went, is being deleted, or
        was made anew under its name: nothing is written into it then."""
        record = self.records.get(BUCKETS + bucket.name)
        if record is None or self._closed(record.value) or float(record.value["created"]) != bucket.created:
            raise NotFound("the bucket %s was deleted while the key was written" % bucket.name).as_s3("NoSuchBucket")
        return _bucket(bucket.name, record.value)

    def holds(self, bucket: Bucket) -> bool:
        """Whether ``bucket`` (as looked up before) still stands: not
        deleted, not being deleted, not made anew under its name."""
        found = self.get(bucket.name)
        return found is not None and found.created == bucket.created

    def close(self, bucket: Bucket) -> None:
        """Mark ``bucket`` as being deleted (``NotFound`` if it is gone or
        being deleted already): from now on no key may be written into it."""
        now = self.records.now()

        def closing(value: Optional[dict]) -> Optional[dict]:
            if value is None or self._closed(value) or float(value["created"]) != bucket.created:
                raise NotFound("no bucket %s" % bucket.name).as_s3("NoSuchBucket")
            return dict(value, closing=now)

        self._written(bucket.name, lambda: self.records.update(BUCKETS + bucket.name, closing))

    def reopen(self, bucket: Bucket) -> None:
        """Undo ``close``: the bucket was not deleted."""
        def opening(value: Optional[dict]) -> Optional[dict]:
            if value is None or float(value["created"]) != bucket.created or "closing" not in value:
                return None
            return {name: field for name, field in value.items() if name != "closing"}

        self._written(bucket.name, lambda: self.records.update(BUCKETS + bucket.name, opening))

    def _closed(self, value: dict) -> bool:
        closing = value.get("closing")
        return closing is not None and self.records.now() - float(closing) < CLOSING_FOR

    def require(self, name: str) -> Bucket:
        """The bucket; ``NotFound`` (NoSuchBucket) if there is none."""
        bucket = self.get(name)
        if bucket is None:
            raise NotFound("no bucket %s" % name).as_s3("NoSuchBucket")
        return bucket

    def all(self) -> List[Bucket]:
        return [_bucket(key[len(BUCKETS):], record.value)
                for key, record in self.records.items(BUCKETS) if not self._closed(record.value)]

    def page(self, prefix: str = "", after: str = "", limit: int = 10000) -> Tuple[List[Bucket], bool]:
        """The buckets whose names begin with ``prefix``, after the name
        ``after``, at most ``limit``, in name order; and whether more follow."""
        found: List[Bucket] = []
        cursor = BUCKETS + after if after else ""
        while True:
            wanted = limit + 1 - len(found)
            batch = list(self.records.items(BUCKETS + prefix, cursor, wanted))
            for key, record in batch:
                if self._closed(record.value):
                    continue  # being deleted: as if gone
                if len(found) == limit:
                    return found, True
                found.append(_bucket(key[len(BUCKETS):], record.value))
            if len(batch) < wanted:
                return found, False
            cursor = batch[-1][0]

    def delete(self, name: str) -> None:
        deleted: List[bool] = []
        self._written(name, lambda: deleted.append(self.records.delete(BUCKETS + name)))
        if not deleted[0]:
            raise NotFound("no bucket %s" % name).as_s3("NoSuchBucket")


def _bucket(name: str, value: dict) -> Bucket:
    return Bucket(name, float(value["created"]), str(value.get("region") or ""), str(value.get("versioning") or ""),
                  value.get("lock"), value.get("lifecycle"), value.get("tags"), value.get("acl"),
                  value.get("cors"), value.get("policy"), value.get("public_block"), value.get("quota"),
                  value.get("owner"), value.get("replication"), value.get("notifications"))
