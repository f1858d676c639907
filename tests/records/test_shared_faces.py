"""``--records s3``: the share-link and KV contracts, word for word, with
their records in a real SeaweedFS bucket; and the two stores' guarantees
between several "daemons" (stores over the same records), including the
work a daemon that died midway leaves behind."""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import threading
import time
import tracemalloc
import unittest

from filestoraged.errors import BackendUnavailable, Gone
from filestoraged.kvstore.store import HEAD, KVLimits, KVStore, _digest, _Sealed
from filestoraged.sharing.links import LinkStore
from filestoraged.sharing.sweep import BLOBS
from filestoraged.sharing.sweeper import Sweeper
from filestoraged.records.interface import Records
from filestoraged.records.local import LocalRecords
from filestoraged.storage.disk.backend import DiskBackend
from filestoraged.storage.names import SHARES

from ..support import FakeClock, Threads, free_port, multipart
from ..kvstore.test_kv import KVContract
from ..storage.test_s3 import S3ServerCase
from ..faces.test_share_http import ShareContract


class RecordsServerCase(S3ServerCase):
    config_overrides = {"backend": "s3", "records": "s3"}


class RecordsShareTests(ShareContract, RecordsServerCase):
    def test_links_live_in_the_bucket_not_in_the_data_directory(self):
        self.share(b"kept in the bucket")
        self.assertEqual(self.link_count(), 1)
        self.assertTrue(any(key.startswith("records/links/") for key in self.keys_in_bucket()))


class RecordsKVTests(KVContract, RecordsServerCase):
    pass


class RecordsStoreDownTests(RecordsServerCase):
    """The store unreachable: share links and KV keys answer 503 with
    Retry-After, never "gone" or "not found"; and as before once it is back."""

    def test_share_links_and_kv_answer_503_with_retry_after_then_recover(self):
        body, content_type = multipart({"file": ("kept.txt", b"kept through the outage", "text/plain")})
        link = self.request("PUT", "/file", body, {"Content-Type": content_type}).json()["url"]
        path = "/file/" + link.rsplit("/", 1)[1]
        self.assertEqual(self.request("POST", "/kv/set", b'{"kept": 1}').status, 201)
        self.assertEqual(self.request("POST", "/kv/commit").status, 204)

        client = self.app.backend.client  # the records ride on the backend's client
        port = client.port
        client.port = free_port()  # nothing listens there: the store is gone
        client.close()  # no pooled connection to the real one either
        for method, target, payload in (("GET", path, None), ("GET", path + "?download=1", None),
                                        ("GET", "/file/" + "B" * 32, None), ("GET", "/kv/kept", None),
                                        ("GET", "/kv/never-set", None), ("POST", "/kv/set", b'{"k": 2}'),
                                        ("POST", "/kv/commit", None)):
            with self.subTest(method=method, target=target):
                reply = self.request(method, target, payload)
                self.assertEqual((reply.status, reply.json()["error"]), (503, "unavailable"), reply)
                self.assertEqual(reply.headers["Retry-After"], "5")

        client.port = port
        self.assertEqual(self.request("GET", path).body, b"kept through the outage")
        self.assertEqual(self.request("GET", "/kv/kept").json(), {"kept": 1})


def local_records(folder: str, clock) -> LocalRecords:
    return LocalRecords(os.path.join(folder, "records.db"), clock=clock)


class StepByStep(Records):
    """Records over SQLite that take each operation alone, as a bucket does
    (no ``batch`` transaction, compare-and-swap retries in ``update``): the
    key-value store's protocol, stopped between any two steps."""

    def __init__(self, inner: LocalRecords) -> None:
        self.inner = inner

    def get(self, key):
        return self.inner.get(key)

    def create(self, key, value):
        return self.inner.create(key, value)

    def replace(self, key, value, version):
        return self.inner.replace(key, value, version)

    def delete(self, key, version=None):
        return self.inner.delete(key, version)

    def keys(self, prefix, after="", limit=None):
        return self.inner.keys(prefix, after, limit)

    def now(self):
        return self.inner.now()

    def close(self):
        self.inner.close()


class DaemonsCase(unittest.TestCase):
    """Stores of three "daemons": each its own connection to one records file."""

    def setUp(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="fsd-shared-")
        self.addCleanup(shutil.rmtree, self.folder, True)
        self.clock = FakeClock()
        self.records = [local_records(self.folder, self.clock) for _ in range(3)]
        for records in self.records:
            self.addCleanup(records.close)


class SharedKVTests(DaemonsCase):
    def setUp(self) -> None:
        super().setUp()
        self.kv = [KVStore(StepByStep(records), KVLimits()) for records in self.records]

    def test_a_commit_through_one_is_read_through_the_others_at_once(self):
        self.assertTrue(self.kv[0].stage_set("colour", "blue"))
        self.assertEqual(self.kv[1].lookup("colour"), (False, None))  # staged, not committed
        self.assertFalse(self.kv[2].stage_set("colour", "green"))  # staging is shared: not new any more
        self.assertEqual(self.kv[1].commit(), 1)
        self.assertEqual([kv.lookup("colour") for kv in self.kv], [(True, "green")] * 3)
        self.kv[2].stage_delete("colour")
        self.assertEqual(self.kv[0].commit(), 1)
        self.assertEqual([kv.lookup("colour") for kv in self.kv], [(False, None)] * 3)
        self.assertEqual(self.kv[1].commit(), 0)

    def test_concurrent_stages_and_commits_through_three_daemons_lose_nothing(self):
        def work(number: int) -> None:
            kv = self.kv[number]
            for round_ in range(10):
                kv.stage_set("k%d-%d" % (number, round_), [number, round_])
                if round_ % 3 == 2:
                    kv.commit()

        threads = [threading.Thread(target=work, args=(n,)) for n in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
            if thread.is_alive():
                raise AssertionError("thread did not end in time")
        self.kv[0].commit()
        for number in range(3):
            for round_ in range(10):
                self.assertEqual(self.kv[(number + 1) % 3].lookup("k%d-%d" % (number, round_)),
                                 (True, [number, round_]))

    def test_a_commit_is_seen_whole_while_its_changes_are_being_applied(self):
        """The head names the commit before any key record is written: a
        reader in between answers from the commit's log."""
        for key in ("a", "b", "c"):
            self.kv[0].stage_set(key, key.upper())
        applied = []

        def stop_midway(head, *rest):
            applied.append(head)
            raise ConnectionError("the daemon died while applying")

        self.kv[0]._apply = stop_midway
        with self.assertRaises(ConnectionError):
            self.kv[0].commit()
        self.assertIsNotNone(self.records[1].get(HEAD).value["pending"])
        self.assertEqual([self.kv[1].lookup(key) for key in "abc"], [(True, "A"), (True, "B"), (True, "C")])
        self.kv[1].stage_set("d", "D")
        self.assertEqual(self.kv[1].commit(), 1)  # applies the dead daemon's commit first
        self.assertIsNone(self.records[2].get(HEAD).value["pending"])
        self.assertEqual([self.kv[2].lookup(key)[1] for key in "abcd"], ["A", "B", "C", "D"])

    def test_a_commit_sealed_by_a_daemon_that_died_is_rolled_forward(self):
        self.kv[0].stage_set("x", 1)
        self.kv[0]._roll_forward = lambda head, *rest: (_ for _ in ()).throw(ConnectionError("died"))
        with self.assertRaises(ConnectionError):
            self.kv[0].commit()
        self.assertTrue(self.kv[1].stage_set("y", 2))  # new; and the stage rolls x forward first
        self.assertEqual(self.kv[1].lookup("x"), (True, 1))
        self.assertEqual(self.kv[2].commit(), 1)
        self.assertEqual(self.kv[2].lookup("y"), (True, 2))

    def test_a_slow_helper_cannot_make_an_applied_area_again(self):
        """Found by the concurrency test above (one run in four): a helper
        holding an old head rolls forward an old sealed area after that and
        the next were applied; the next area it made again was an orphan,
        and a change staged there by a stage holding an old head was lost."""
        self.kv[0].stage_set("a", 1)
        old_head = self.records[0].get(HEAD).value  # epoch 0
        self.kv[0].commit()  # seals and applies epoch 0; epoch 1 is open
        sealed_zero = self.records[0].get("kv/staging/0")
        stale_epoch_one = self.records[0].get(HEAD).value
        self.kv[1].stage_set("b", 2)
        self.kv[1].commit()  # seals and applies epoch 1; epoch 2 is open
        # The slow helper of epoch 0 wakes up ...
        self.assertIsNotNone(sealed_zero)  # kept as a tombstone
        self.kv[2]._roll_forward(old_head)
        # ... and a stage that read the head at epoch 1 writes now.
        with self.assertRaises(_Sealed):  # the head has moved: the stage reads it again
            self.kv[2]._stage_in(stale_epoch_one["epoch"], _digest("c"), "c", [3], 2)
        self.kv[2].stage_set("c", 3)
        self.kv[2].commit()
        self.assertEqual([self.kv[0].lookup(key) for key in "abc"], [(True, 1), (True, 2), (True, 3)])

    def test_json_null_is_a_value_and_a_deletion_is_not(self):
        self.kv[0].stage_set("nothing", None)
        self.kv[0].commit()
        self.assertEqual(self.kv[1].lookup("nothing"), (True, None))

    def _commit_through_another(self, when) -> list:
        """Make daemon 1 commit once, at the first of daemon 0's record
        operations for which ``when(operation, key, done)`` is true; what it
        committed, in a list."""
        records, committed = self.kv[0].records, []

        def hooked(name):
            original = getattr(records, name)

            def operation(*args, **kwargs):
                if not committed and when(name, args[0], False):
                    committed.append(self.kv[1].commit())
                result = original(*args, **kwargs)
                if not committed and when(name, args[0], True):
                    committed.append(self.kv[1].commit())
                return result

            setattr(records, name, operation)

        hooked("update")
        hooked("get")
        return committed

    def test_a_change_written_after_a_commit_took_its_area_is_staged_again(self):
        """Between a stage's reservation and its write, a commit through
        another daemon seals and closes the area without it: the stage
        stages it again in the next area, and the next commit has it."""
        self.kv[1].stage_set("first", 1)
        committed = self._commit_through_another(
            lambda name, key, done: name == "update" and key.startswith("kv/staged/") and not done)
        self.assertTrue(self.kv[0].stage_set("late", 2))
        self.assertEqual(committed, [1])  # "first" alone
        self.assertEqual(self.kv[2].lookup("late"), (False, None))
        self.assertEqual(self.kv[2].commit(), 1)
        self.assertEqual([self.kv[2].lookup(key) for key in ("first", "late")], [(True, 1), (True, 2)])

    def test_a_change_a_commit_took_right_after_its_write_is_in_that_commit(self):
        """The other order: the commit through another daemon comes between
        the stage's write and its last look at the area; it holds the
        change, which is then new (201) as of the state it was staged over."""
        written = []

        def when(name, key, done):
            if name == "update" and key.startswith("kv/staged/") and done:
                written.append(key)
            return bool(written) and name == "get" and key.startswith("kv/staging/") and not done

        committed = self._commit_through_another(when)
        self.assertTrue(self.kv[0].stage_set("quick", 3))
        self.assertEqual(committed, [1])
        self.assertEqual(self.kv[2].lookup("quick"), (True, 3))
        self.assertEqual(self.kv[2].commit(), 0)  # nothing left staged


class SharedLinksTests(DaemonsCase):
    LEASE = 30.0

    def setUp(self) -> None:
        super().setUp()
        self.backend = DiskBackend(os.path.join(self.folder, "objects"), 1 << 20)
        self.addCleanup(self.backend.close)
        self.stores = [LinkStore(records, self.backend, records, self.LEASE) for records in self.records]
        for store in self.stores:
            self.addCleanup(store.close)

    def link(self, max_downloads: int) -> str:
        info = self.backend.put(SHARES, io.BytesIO(b"shared bytes")).info
        return self.stores[0].create(info.oid, info.size, "a.txt", "text/plain", None, max_downloads, 3600).id

    def test_exactly_max_downloads_whatever_daemon_serves_them(self):
        link_id = self.link(5)
        results = []
        lock = threading.Lock()

        def download(number: int) -> None:
            store = self.stores[number % 3]
            try:
                ticket = store.reserve(link_id)
            except Gone:
                outcome = "gone"
            else:
                store.finish(ticket, complete=True)
                outcome = "ok"
            with lock:
                results.append(outcome)

        threads = [threading.Thread(target=download, args=(n,)) for n in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
            if thread.is_alive():
                raise AssertionError("thread did not end in time")
        self.assertEqual((results.count("ok"), results.count("gone")), (5, 15))
        self.assertEqual(self.stores[2].get(link_id).downloads, 5)

    def test_a_dead_daemons_reservation_comes_back_when_its_lease_runs_out(self):
        link_id = self.link(1)
        self.stores[0].reserve(link_id)  # ... and the daemon dies: no finish, no renewal
        with self.assertRaises(Gone):
            self.stores[1].reserve(link_id)
        self.clock.advance(self.LEASE + 1)
        ticket = self.stores[1].reserve(link_id)
        self.stores[1].finish(ticket, complete=True)
        with self.assertRaises(Gone):
            self.stores[2].check_alive(self.stores[2].get(link_id))

    def test_a_live_daemon_renews_its_reservations(self):
        link_id = self.link(1)
        ticket = self.stores[0].reserve(link_id)
        for _ in range(4):  # a long transfer: four leases, renewed in time
            self.clock.advance(self.LEASE * 0.9)
            self.stores[0]._renew()
            with self.assertRaises(Gone):
                self.stores[1].reserve(link_id)
        self.stores[0].finish(ticket, complete=True)
        self.assertEqual(self.stores[1].get(link_id).downloads, 1)

    def test_a_download_completed_while_the_store_refuses_writes_is_counted_once_it_takes_them(self):
        """Found by the cluster soak: such a download's count was lost, its
        hold ran out, and its slot was given out again (4 of 2)."""
        link_id = self.link(1)
        store = self.stores[0]
        ticket = store.reserve(link_id)

        def refuse(*args, **kwargs):
            raise BackendUnavailable("the object store is not answering")

        store.records.update = refuse  # this daemon's view of the store only
        store.finish(ticket, complete=True)  # the transfer ended: no error to answer with
        store._renew()  # still refused: kept, and tried again
        del store.records.update
        self.clock.advance(self.LEASE / 2)
        with self.assertRaises(Gone):  # the slot is still held
            self.stores[1].reserve(link_id)
        store._renew()
        self.assertEqual(self.stores[1].get(link_id).downloads, 1)
        self.clock.advance(self.LEASE * 2)
        with self.assertRaises(Gone):
            self.stores[2].reserve(link_id)

    def test_a_blob_is_removed_once_no_daemons_link_needs_it(self):
        link_id = self.link(1)
        oid = self.stores[0].get(link_id).oid
        with self.stores[0].pinned() as pin:
            pin(oid)  # an upload of the same bytes through daemon 0, between its store and its link
            ticket = self.stores[1].reserve(link_id)
            self.stores[1].finish(ticket, complete=True)
            self.assertEqual(self.stores[2].sweep(), 0)  # used up, but pinned
            self.assertEqual(self.stores[1].release(oid), 0)
        self.assertEqual(self.stores[2].release(oid), 1)  # at once, no grace
        self.assertEqual([info.oid for info in self.backend.list(SHARES)], [])
        with self.assertRaises(Gone):
            self.stores[0].check_alive(self.stores[0].get(link_id))
        self.assertNotIn(oid, [key.rsplit("/", 1)[1] for key in self.records[0].keys("share-blobs/")])

    def test_a_pin_waits_for_a_removal_under_way_to_end(self):
        """An upload that pins a blob a sweep is removing waits for the
        removal to end (its bytes are then stored afresh), never pins a blob
        about to vanish."""
        oid = self.stores[0].get(self.link(1)).oid
        self.records[1].update(BLOBS + oid, lambda value: dict(value, removing=True))
        seen, update = threading.Event(), self.records[0].update

        def watched(key: str, change):
            def seeing(value):
                if key == BLOBS + oid and value is not None and value.get("removing"):
                    seen.set()
                return change(value)

            return update(key, seeing)

        self.records[0].update = watched
        with Threads(30) as threads:
            threads.start(self.stores[0].pin, oid)
            self.assertTrue(seen.wait(10))  # the pin found the removal under way
            self.assertIsNone(threads.results[0])
            self.backend.delete(SHARES, oid)
            self.records[1].delete(BLOBS + oid)
        pins = self.records[2].get(BLOBS + oid).value["pins"]
        self.assertEqual(list(pins), [threads.results[0]])

    def test_a_sweeps_memory_does_not_grow_with_the_links_kept_dead(self):
        """Used-up links are kept ``TOMBSTONE_SECONDS`` (410, not 404), so
        they pile up; a sweep that held every link's record while it ran
        took about 1.5 KiB a link (a 30-minute soak's workers kept growing
        with them). What a sweep needs per link is at most its key."""
        records = LocalRecords(os.path.join(self.folder, "many.db"), durable=False, clock=self.clock)
        self.addCleanup(records.close)
        store = LinkStore(records, self.backend, records, self.LEASE)
        self.addCleanup(store.close)
        live = self.backend.put(SHARES, io.BytesIO(b"still shared")).info
        kept = store.create(live.oid, live.size, "a.txt", "text/plain", None, 1, 3600).id

        def sweep_peak(dead_links: int) -> int:
            now = self.clock()
            for _ in range(dead_links):
                records.create("links/" + os.urandom(16).hex(), {
                    "oid": os.urandom(32).hex(), "size": 10, "filename": "a.txt", "content_type": None,
                    "salt": None, "hash": None, "delete": "0" * 64, "max": 1, "downloads": 1, "holds": {},
                    "created": now - 60, "expires": now + 3600, "deleted": False, "died": now - 30})
            tracemalloc.start()
            try:
                store.sweep()
                return tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()

        few, many = sweep_peak(500), sweep_peak(2500)
        self.assertLess((many - few) / 2500, 400, "bytes a sweep held per dead link")
        self.assertEqual(store.get(kept).downloads, 0)
        self.assertEqual(self.backend.stat(SHARES, live.oid).size, live.size)


class SweeperTests(unittest.TestCase):
    def test_links_used_up_all_the_time_do_not_starve_the_full_sweep(self):
        """Each used-up link wakes the sweeper for its blob; the sweep of
        everything (expired links) still runs every interval."""
        swept, released = threading.Event(), []
        sweeper = Sweeper(lambda: swept.set() or 0, lambda oid: released.append(oid) or 0)
        sweeper.start(0.3)
        self.addCleanup(sweeper.close)
        deadline = time.monotonic() + 10
        while not swept.is_set() and time.monotonic() < deadline:
            sweeper.wake("%064d" % len(released))  # a link used up every 20 ms
            swept.wait(0.02)
        self.assertTrue(swept.is_set())
        self.assertTrue(released)


if __name__ == "__main__":
    unittest.main()
