"""Records in the S3 bucket, beside the objects (``--records s3``): every
daemon that shares the bucket shares them, and losing a daemon loses none.

Each record is one JSON object under ``records/<key>``; its version is the
store's ETag. Writes are S3 conditional writes: ``If-None-Match: *`` to
create, ``If-Match: <etag>`` to replace or delete; the store answers 412
when the record changed, and that is a ``Conflict``. The S3 client retries
a request whose answer was lost, so a 412 may follow our own write that
landed: every written value carries a random write id (``WRITE_ID``), and
a 412 whose record holds our id is our success, and so is one whose record
was written on top of ours by an ``update`` (it lists the ids it built on).

A store that ignores conditional writes would turn every race into last
writer wins, silently: ``probe`` refuses such a store at start-up.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from typing import Callable, Iterator, Optional, Tuple

from ..base.threads import ahead
from ..errors import FileStoreError
from .interface import WRITE_ID, Conflict, Record, Records, landed, stamped, value_text

PREFIX = "records/"
PAGE_READERS = 8  # records of a listed page read at once
SKEW_STEP = 1.0  # seconds: the store's clock is followed once ours is this far off


class UnsafeStore(FileStoreError):
    """The store does not honour conditional writes (a start-up error)."""


class BucketRecords(Records):
    def __init__(self, client, clock: Callable[[], float] = time.time) -> None:
        """``client``: an ``S3Client`` for the bucket (shared with the objects);
        ``clock``: this machine's (tests fake it), moved by how far the
        machine's real clock is from the store's."""
        self.client = client
        self.clock = clock
        self._offset = 0.0  # the store's clock minus this machine's, from its Date headers

    def get(self, key: str) -> Optional[Record]:
        response = self.client.request("GET", PREFIX + key)
        try:
            body = response.read()
        finally:
            response.release()
        self._clock(response)
        if response.status == 404:
            return None
        try:
            value = json.loads(body)
        except ValueError:
            raise FileStoreError("the record %s is not JSON" % key) from None
        return Record(value, response.headers.get("ETag", ""))

    def create(self, key: str, value: dict) -> str:
        return self._put(key, stamped(value), {"If-None-Match": "*"})

    def replace(self, key: str, value: dict, version: str) -> str:
        return self._put(key, stamped(value), {"If-Match": version})

    def delete(self, key: str, version: Optional[str] = None) -> bool:
        if version is None:
            if self.get(key) is None:
                return False
            self.client.request("DELETE", PREFIX + key, ok=(200, 204)).release()
            return True
        response = self.client.request("DELETE", PREFIX + key, headers={"If-Match": version}, ok=(200, 204, 412))
        response.read()
        response.release()
        if response.status == 412:
            raise Conflict("the record %s changed" % key)
        return response.status != 404

    def keys(self, prefix: str, after: str = "", limit: Optional[int] = None) -> Iterator[str]:
        for count, (key, _) in enumerate(self.client.keys(PREFIX + prefix, PREFIX + after if after else "",
                                                          page=limit)):
            if limit is not None and count >= limit:
                return
            yield key[len(PREFIX):]

    def items(self, prefix: str, after: str = "", limit: Optional[int] = None) -> Iterator[Tuple[str, Record]]:
        """A listing, then its records read a few at a time side by side
        (a page of keys is a page of GETs)."""
        keys = self.keys(prefix, after, limit)
        for key, record in ahead(lambda key: (key, self.get(key)), keys, workers=PAGE_READERS, depth=2 * PAGE_READERS):
            if record is not None:
                yield key, record

    def now(self) -> float:
        return self.clock() + self._offset

    def _put(self, key: str, value: dict, condition: dict) -> str:
        data = value_text(value).encode("utf-8")
        headers = dict(condition, **{"Content-Type": "application/json"})
        response = self.client.request("PUT", PREFIX + key, headers=headers, body=data,
                                       payload_sha256=hashlib.sha256(data).hexdigest(), ok=(200, 412))
        response.read()
        response.release()
        self._clock(response)
        if response.status == 200:
            return response.headers.get("ETag", "")
        if response.status == 404:  # If-Match on a record that is gone (some stores say 404)
            raise Conflict("the record %s is gone" % key)
        found = self.get(key)  # 412: changed by another, or our own write, retried after a lost answer
        if found is not None and landed(found.value, value[WRITE_ID]):
            return found.version  # ours, or what was built on ours (update needs no version)
        raise Conflict("the record %s changed" % key)

    def _clock(self, response) -> None:
        said = response.store_time()
        if said is None:
            return
        offset = said + 0.5 - time.time()
        # A Date has whole seconds: each estimate is off by up to half of
        # one. Follow only a real skew, so that this daemon's clock does
        # not jitter between two reads (a lease or a grace measured across
        # them would shrink).
        if abs(offset - self._offset) > SKEW_STEP:
            self._offset = offset


def probe(records: Records, where: str) -> None:
    """Refuse a store (at ``where``) that ignores conditional writes
    (``UnsafeStore``): a stale ``If-Match`` and an ``If-None-Match: *`` on an
    existing record must both be refused."""
    key = ".probe/" + secrets.token_hex(8)
    first = records.create(key, {"probe": 1})
    try:
        records.replace(key, {"probe": 2}, first)
        for attempt in (lambda: records.replace(key, {"probe": 3}, first), lambda: records.create(key, {})):
            try:
                attempt()
            except Conflict:
                continue
            raise UnsafeStore("the object store at %s ignores conditional writes (If-Match / If-None-Match):"
                              " --records s3 needs one that honours them" % where)
    finally:
        records.delete(key)
