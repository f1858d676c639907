"""The sender: empties the outbox (``catalog.outbox``) into each bucket's
S3 target, in the outbox's order, and gives each item up only once the
target acknowledged it.

One process at a time sends for the whole store: the one holding the
turn (``Records.take_turn``: the first worker of any daemon over the
same records, taken again every ``TURN_FOR`` seconds by whoever comes
first once it lapses), so every item is sent by one of them and one
key's items in the order they were committed.

A new version is sent with a PUT of its bytes, its type and headers, its
``x-amz-meta-*``, its tags, and two headers of its own
(``x-amz-meta-filestoraged-version``, ``-sha256``), signed with its
SHA-256 as the payload's, which the target checks. Before it, a HEAD:
where the target's object carries that version already (a send whose
answer was lost), nothing is sent again, so a versioned target keeps it
once. The version is then marked ``COMPLETED`` (``x-amz-replication-status``).
A delete marker is a DELETE of the key (where the rule sends markers).

While a target fails, its item stays, with the failure said in it, and
the sender waits (one second, then twice as long each time, up to a
minute) before it tries again from the oldest item: nothing after it is
sent meanwhile, so no key's changes overtake each other. An item whose
version is not there (not committed yet, or never: its daemon died
before its commit) holds back that key's later items; it is dropped
``SETTLE`` seconds after it was written.
"""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
import threading
import time
from typing import Dict, Optional, Set, Tuple
from urllib.parse import urlencode

from ..catalog.heads import label
from ..catalog.keys import Entry
from ..catalog.keyspace import Keyspace
from ..catalog.buckets import Buckets
from ..catalog.outbox import MARKER, SETTLE, Item, Outbox
from ..catalog.replication import COMPLETED, FAILED, Rule, rule_of
from ..errors import FileStoreError, NotFound
from ..records.interface import Records
from ..storage.interface import Backend
from ..storage.names import repository
from ..s3api.object_lock import lock_headers
from ..storage.s3.client import S3Client
from ..storage.s3.responses import error_code

log = logging.getLogger(__name__)

TURN = "replication-turn"  # the record of whose turn it is to send
TURN_FOR = 30.0  # seconds a sender's turn lasts; it sends for half of it, then takes it again
PAGE = 100  # outbox items read at a time
MOST_WAIT = 60.0  # seconds between tries while a target fails, at most
VERSION_HEADER = "x-amz-meta-filestoraged-version"
SHA256_HEADER = "x-amz-meta-filestoraged-sha256"
COPY_BUFFER = 1024 * 1024


class Sender:
    def __init__(self, records: Records, outbox: Outbox, buckets: Buckets, keyspace: Keyspace, backend: Backend,
                 spool_dir: str) -> None:
        self.records, self.outbox, self.buckets, self.keyspace = records, outbox, buckets, keyspace
        self.backend = backend
        self.spool_dir = spool_dir
        self._clients: Dict[Tuple[str, str, str, str, str], S3Client] = {}
        self._lockable: Dict[int, bool] = {}  # a target client's: whether its bucket has object lock on
        self._failures = 0
        self._next_try = 0.0
        self._lock = threading.Lock()
        self._me = "%d:%s" % (os.getpid(), secrets.token_hex(6))  # who holds the turn, for the records
        self.sent = 0  # items sent by this process (``/metrics``)

    def run_once(self) -> int:
        """One turn's sending, if anything waits, no failure asks to wait
        and it is this process's turn: the number of items sent or dropped."""
        if time.monotonic() < self._next_try or not self.outbox.first(1) or not self._my_turn():
            return 0
        with self._lock:
            return self._send_for(TURN_FOR / 2)

    def _my_turn(self) -> bool:
        """Whether this process sends now: the turn taken, or kept, unless
        another process took it in the last ``TURN_FOR`` seconds."""
        now = self.records.now()

        def taking(value: Optional[dict]) -> Optional[dict]:
            if value and value.get("by") != self._me and now - float(value["at"]) < TURN_FOR:
                return None
            return {"at": now, "by": self._me}

        return self.records.update(TURN, taking) is not None

    def _send_for(self, seconds: float) -> int:
        ends = time.monotonic() + seconds
        done = 0
        while time.monotonic() < ends:
            items = self.outbox.first(PAGE)
            held: Set[Tuple[str, str]] = set()  # keys with an item not ready: their later items wait
            progressed = False
            for item in items:
                if time.monotonic() >= ends:
                    return done
                if (item.bucket, item.key) in held:
                    continue
                try:
                    ready = self._send(item)
                except (FileStoreError, OSError) as error:
                    self._failed(item, error)
                    return done
                if not ready:
                    held.add((item.bucket, item.key))
                    continue
                self.outbox.drop(item.id)
                self._failures = 0
                self.sent += 1
                done += 1
                progressed = True
            if len(items) < PAGE or not progressed:
                return done
        return done

    def _failed(self, item: Item, error: BaseException) -> None:
        self._failures += 1
        wait = min(MOST_WAIT, 2.0 ** (self._failures - 1))
        self._next_try = time.monotonic() + wait
        text = getattr(error, "text", None) or str(error)
        log.warning("replication of %s/%s waits %.0f s: %s", item.bucket, item.key[:200], wait, text)
        try:
            self.outbox.failed(item, text)
        except FileStoreError:
            pass  # said in the log; the item stays as it was

    def _send(self, item: Item) -> bool:
        """``item`` sent (True: it may go), or not ready (False: its version
        is not there yet). Raises while its target fails."""
        bucket = self.buckets.get(item.bucket)
        rule = rule_of(bucket.replication) if bucket is not None else None
        if rule is None or not rule.applies(item.key):
            return True  # the rule (or the bucket) went: nothing to send
        client = self._client(rule)
        if item.kind == MARKER:
            client.request("DELETE", item.key, ok=(200, 204)).release()
            return True
        entry = self._entry(item)
        if entry is None:
            return self.records.now() - item.at > SETTLE  # never committed, or deleted since: not sent
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
                   VERSION_HEADER: label(entry), SHA256_HEADER: entry.oid}
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
