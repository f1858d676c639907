"""The sender: empties the outbox (``catalog.outbox``) into where each item
goes (a bucket's S3 target: ``to_s3``; a webhook: ``to_webhooks``), in
the outbox's order, and gives each item up only once its destination
acknowledged it.

One process at a time sends for the whole store: the one holding the
turn (the first worker of any daemon over the same records, kept while
it lives, taken over ``TURN_FOR`` seconds after it stopped renewing it),
so every item is sent by one of them, and one key's items for one
destination in the order they were committed.

While a destination fails, its item stays, with the failure said in it,
and that destination waits (one second, then twice as long each time, up
to a minute) before it is tried again from its oldest item; the others go
on. An item not ready (a pending one, written ahead of a commit not
known to be in: ``catalog.outbox``; a version not there; a share link's
event before the link is used up) holds back that key's later items for
its destination. ``SETTLE`` seconds after it was written, a pending item
is sent if the key's records show its change made (``made``), else
dropped; so is one still not ready.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from typing import Callable, Dict, Optional, Set, Tuple

from ..catalog.buckets import Buckets
from ..catalog.keyspace import Keyspace
from ..catalog.notifications import SHARE_SPENT, Webhooks
from ..catalog.outbox import EVENT, SETTLE, Item, Outbox, made
from ..catalog.replication import rule_of
from ..errors import FileStoreError
from ..records.interface import Records
from ..storage.interface import Backend
from .to_s3 import S3Targets
from .to_webhooks import deliver

log = logging.getLogger(__name__)

TURN = "replication-turn"  # the record of whose turn it is to send
TURN_FOR = 30.0  # seconds a turn outlives its holder's last renewal; it sends for half of it at a time
PAGE = 100  # outbox items read at a time
MOST_WAIT = 60.0  # seconds between tries while a destination fails, at most
LOOK_EVERY = 1.0  # seconds between looks at the outbox when no commit of this machine rang that it wrote to it
LEAST = 0.02  # seconds between rounds, at least, however often commits ring


class Sender:
    def __init__(self, records: Records, outbox: Outbox, buckets: Buckets, keyspace: Keyspace, backend: Backend,
                 spool_dir: str) -> None:
        self.records, self.outbox, self.buckets = records, outbox, buckets
        self.webhooks = Webhooks(records)
        self.keyspace = keyspace
        self.s3 = S3Targets(keyspace, backend, spool_dir)
        self._waits: Dict[str, Tuple[int, float]] = {}  # a failing destination's: failures, when to try again
        self._lock = threading.Lock()
        self._me = "%d:%s" % (os.getpid(), secrets.token_hex(6))  # who holds the turn, for the records
        self.sent = 0  # items sent by this process
        # Whether the share link an event of the store's says is used up is so now (told by the app).
        self.spent: Callable[[str], bool] = lambda link_id: True

    def run_once(self) -> int:
        """One turn's sending, if anything waits and it is this process's
        turn: the number of items sent or dropped."""
        if not self.outbox.first(1) or not self._my_turn():
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
        """Items sent, page after page, for at most ``seconds``."""
        ends = time.monotonic() + seconds
        done, after = 0, ""
        held: Set[Tuple[str, str, str]] = set()  # (destination, bucket, key) whose later items wait
        while time.monotonic() < ends:
            items = self.outbox.page(after, PAGE)
            for item in items:
                if time.monotonic() >= ends:
                    return done
                done += self._one(item, held)
            if len(items) < PAGE:
                return done
            after = items[-1].id
        return done

    def _one(self, item: Item, held: Set[Tuple[str, str, str]]) -> int:
        """``item`` sent or dropped (1), or left for later (0)."""
        found = self._destination(item)
        if found is None:  # its rule, its webhook or its bucket went: nothing to send
            self.outbox.drop(item.id)
            return 1
        destination, send = found
        hold = (destination, item.bucket, item.key)
        waits = self._waits.get(destination)
        settled = self.records.now() - item.at > SETTLE
        if hold in held or (waits is not None and time.monotonic() < waits[1]) or (item.pending and not settled):
            held.add(hold)
            return 0
        try:
            ready = send() if not item.pending or made(item, self.keyspace.get) else False
        except (FileStoreError, OSError) as error:
            self._failed(item, destination, error)
            held.add(hold)
            return 0
        if not ready and not settled:
            held.add(hold)
            return 0
        self.outbox.drop(item.id)  # sent; or its change was never made, or its version went before it could go
        self._waits.pop(destination, None)
        self.sent += 1
        return 1

    def _destination(self, item: Item) -> Optional[Tuple[str, Callable[[], bool]]]:
        """Where ``item`` goes (by a name the sender waits on while it
        fails) and the send of it there (True: it may go; False: not ready,
        its version not there); None: nowhere now."""
        if item.kind == EVENT:
            hook = self.webhooks.get(str(item.fields.get("hook")))
            if hook is None:
                return None

            def to_hook() -> bool:
                if item.fields.get("event") == SHARE_SPENT and not self.spent(item.key):
                    return False  # not used up (yet: its download not counted; or never: it failed)
                deliver(hook, item)
                return True

            return "webhook " + hook.name, to_hook
        bucket = self.buckets.get(item.bucket)
        rule = rule_of(bucket.replication) if bucket is not None else None
        if rule is None or not rule.applies(item.key):
            return None
        return "s3 %s/%s" % (rule.endpoint, rule.bucket), lambda: self.s3.send(rule, item)

    def _failed(self, item: Item, destination: str, error: BaseException) -> None:
        failures = self._waits.get(destination, (0, 0.0))[0] + 1
        wait = min(MOST_WAIT, 2.0 ** (failures - 1))
        self._waits[destination] = (failures, time.monotonic() + wait)
        text = getattr(error, "text", None) or str(error)
        log.warning("sending to %s waits %.0f s (%s/%s): %s", destination, wait, item.bucket, item.key[:200], text)
        try:
            self.outbox.failed(item, text)
        except FileStoreError:
            pass  # said in the log; the item stays as it was

    def close(self) -> None:
        self.s3.close()
