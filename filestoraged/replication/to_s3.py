"""Replication's sends: a new version PUT at a bucket's S3 target, a delete
marker as a DELETE there (``replication.sender`` decides when).

A version is sent with its bytes, its type and headers, its
``x-amz-meta-*``, its tags, its retention and legal hold where the
target's bucket has object lock on, and two headers of its own
(``x-amz-meta-filestoraged-version``, ``-sha256``), signed with its
SHA-256 as the payload's and carrying it as ``x-amz-checksum-sha256``,
which the target checks before it keeps the bytes. Before it, a HEAD:
where the target's object carries that version already (a send whose
answer was lost), nothing is sent again, so a versioned target keeps it
once. The version is then marked ``COMPLETED`` (``FAILED`` where the
target refused it for good: a 400).
"""

from __future__ import annotations

import base64
import logging
import tempfile
from typing import Dict, Optional, Tuple
from urllib.parse import urlencode

from ..catalog.heads import label
from ..catalog.keys import Entry
from ..catalog.keyspace import Keyspace
from ..catalog.outbox import MARKER, Item
from ..catalog.replication import COMPLETED, FAILED, Rule
from ..errors import NotFound
from ..s3api.object_lock import lock_headers
from ..storage.interface import Backend
from ..storage.names import repository
from ..storage.s3.client import S3Client
from ..storage.s3.responses import error_code

log = logging.getLogger(__name__)

VERSION_HEADER = "x-amz-meta-filestoraged-version"
SHA256_HEADER = "x-amz-meta-filestoraged-sha256"


class S3Targets:
    """The S3 targets of the buckets' rules, a client each (per target and key pair)."""

    def __init__(self, keyspace: Keyspace, backend: Backend, spool_dir: str) -> None:
        self.keyspace, self.backend, self.spool_dir = keyspace, backend, spool_dir
        self._clients: Dict[Tuple[str, str, str, str, str], S3Client] = {}
        self._lockable: Dict[int, bool] = {}  # a target client's: whether its bucket has object lock on

    def send(self, rule: Rule, item: Item) -> bool:
        """``item`` sent (True: it may go), or not ready (False: its version
        is not there). Raises while the target fails."""
        client = self._client(rule)
        if item.kind == MARKER:
            client.request("DELETE", item.key, ok=(200, 204)).release()
            return True
        entry = self._entry(item)
        if entry is None:
            return False
        status = COMPLETED
        if not self._there(client, item.key, entry):
            refusal = self._put(client, item.bucket, item.key, entry)
            if refusal is not None:  # the target's final word: this version is not sent, the others go on
                log.error("replication of %s/%s version %s refused by the target: %s", item.bucket, item.key[:200],
                          label(entry), refusal)
                status = FAILED
        try:
            self.keyspace.amend(item.bucket, item.key, label(entry), _marked(status), tell=False)
        except NotFound:
            pass  # deleted meanwhile: sent all the same
        return True

    def _entry(self, item: Item) -> Optional[Entry]:
        """The version ``item`` names, None if it is not there."""
        found = self.keyspace.get(item.bucket, item.key, item.version or "null")
        if found is None or isinstance(found, Entry):
            return found
        return getattr(found, "entry", None)

    def _there(self, client: S3Client, key: str, entry: Entry) -> bool:
        """Whether the target's object of ``key`` is this version already."""
        response = client.request("HEAD", key)
        response.release()
        return (response.status == 200 and response.headers.get(VERSION_HEADER) == label(entry)
                and response.headers.get(SHA256_HEADER) == entry.oid)

    def _put(self, client: S3Client, bucket: str, key: str, entry: Entry) -> Optional[str]:
        """The version's bytes and what describes them PUT at the target;
        None once it took them, else why it refused them for good (a 400:
        its final word on this version)."""
        headers = {"Content-Type": entry.content_type or "application/octet-stream", **entry.headers,
                   VERSION_HEADER: label(entry), SHA256_HEADER: entry.oid,
                   # the bytes' digest, which the target checks (and which a write with a lock must carry)
                   "x-amz-checksum-sha256": base64.b64encode(bytes.fromhex(entry.oid)).decode()}
        headers.update(("x-amz-meta-" + name, value) for name, value in entry.meta.items())
        if entry.tags:
            headers["x-amz-tagging"] = urlencode(entry.tags)
        if entry.lock and self._locks(client):
            headers.update(lock_headers(entry.lock))
        with tempfile.TemporaryFile(dir=self.spool_dir, prefix="replica-") as spool:
            with self.backend.open(repository(bucket), entry.oid) as stored:
                for chunk in stored.chunks():
                    spool.write(chunk)
            spool.flush()
            response = client.request("PUT", key, headers=headers, body=(spool, entry.size),
                                      payload_sha256=entry.oid, ok=(200, 400))
            refused = response.status == 400
            why = error_code(response) if refused else None
            response.release()
        return why

    def _locks(self, client: S3Client) -> bool:
        """Whether the target's bucket has object lock on (asked once per
        target): a version's retention and legal hold are sent only there."""
        known = self._lockable.get(id(client))
        if known is None:
            response = client.request("GET", query={"object-lock": ""})
            text = response.read(65536) if response.status == 200 else b""
            response.release()
            known = self._lockable[id(client)] = b"<ObjectLockEnabled>Enabled</ObjectLockEnabled>" in text
        return known

    def _client(self, rule: Rule) -> S3Client:
        access, secret = rule.key_pair()
        found = (rule.endpoint, rule.bucket, rule.region, access, secret)
        client = self._clients.get(found)
        if client is None:  # (one per target and key pair: a changed key pair gets a new one)
            client = self._clients[found] = S3Client(rule.endpoint, rule.bucket, rule.region, access, secret)
        return client

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients = {}


def _marked(status: str):
    """A change of a version that sets its replication status."""
    def marking(entry: Entry) -> None:
        entry.replication = status
    return marking
