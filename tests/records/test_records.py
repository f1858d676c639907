"""The records interface (compare-and-swap records for what every daemon
must share), one contract run against both implementations: SQLite
(``--records local``), the S3 bucket on a real SeaweedFS (``--records
s3``) and PostgreSQL (``--records postgresql://``); plus the bucket's own cases: a retried write that had landed, and
the start-up probe that refuses a store ignoring conditional writes."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import shutil
import sqlite3
import ssl
import tempfile
import threading
import time
import unittest
from typing import List
from unittest import mock

from filestoraged.errors import BackendUnavailable
from filestoraged.records.bucket import BucketRecords, UnsafeStore, probe
from filestoraged.records.checked import PROBE_EVERY, CheckedRecords
from filestoraged.records.interface import EARLIER, WRITE_ID, Conflict, Records
from filestoraged.records.local import LocalRecords
from filestoraged.records.postgres import PostgresRecords

from ..postgres_server import PostgresMixin
from ..seaweed_server import SeaweedMixin
from ..support import FakeClock, Threads


def plain(value):
    """A record's value without its write ids."""
    return {k: v for k, v in value.items() if k not in (WRITE_ID, EARLIER)}


class RecordsContract:
    def make_records(self):
        raise NotImplementedError

    def setUp(self) -> None:
        super().setUp()
        self.records = self.make_records()
        self.addCleanup(self.records.close)

    def test_a_missing_record_is_none(self):
        self.assertIsNone(self.records.get("links/none"))
        self.assertFalse(self.records.delete("links/none"))

    def test_create_once_then_conflict(self):
        version = self.records.create("links/a", {"n": 1})
        found = self.records.get("links/a")
        self.assertEqual((plain(found.value), found.version), ({"n": 1}, version))
        with self.assertRaises(Conflict):
            self.records.create("links/a", {"n": 2})
        self.assertEqual(plain(self.records.get("links/a").value), {"n": 1})

    def test_a_value_comes_back_as_stored(self):
        """Every kind of JSON a record holds, read back the same: text
        beyond ASCII and with controls, floats at their edges, large
        whole numbers, empty and nested containers."""
        value = {"text": "caf\u00e9 \u2603 \U0001f600 \"quoted\" back\\slash \n\t\u0000", "float": 0.1,
                 "tiny": 5e-324, "huge": 1.7976931348623157e308, "whole": 2 ** 62 + 1, "negative": -3,
                 "flags": [True, False, None], "empty": {}, "none": [], "nested": {"a": [{"b": {"c": [1.5]}}]}}
        self.records.create("links/kinds", value)
        self.assertEqual(plain(self.records.get("links/kinds").value), value)
        changed = dict(value, text="\u00fc" * 3)
        self.records.replace("links/kinds", changed, self.records.get("links/kinds").version)
        self.assertEqual(plain(self.records.get("links/kinds").value), changed)
        self.assertEqual([plain(record.value) for _, record in self.records.items("links/kinds")], [changed])

    def test_replace_only_at_the_version_read(self):
        first = self.records.create("links/b", {"n": 1})
        second = self.records.replace("links/b", {"n": 2}, first)
        self.assertNotEqual(first, second)
        with self.assertRaises(Conflict):
            self.records.replace("links/b", {"n": 3}, first)  # stale
        self.assertEqual(plain(self.records.get("links/b").value), {"n": 2})
        with self.assertRaises(Conflict):
            self.records.replace("links/missing", {"n": 1}, first)

    def test_delete_at_a_version(self):
        first = self.records.create("links/c", {"n": 1})
        second = self.records.replace("links/c", {"n": 2}, first)
        with self.assertRaises(Conflict):
            self.records.delete("links/c", first)
        self.assertTrue(self.records.delete("links/c", second))
        self.assertIsNone(self.records.get("links/c"))

    def test_keys_by_prefix_in_order(self):
        for key in ("tokens/b", "tokens/a", "kv/x", "tokens2/z"):
            self.records.create(key, {})
        self.assertEqual(list(self.records.keys("tokens/")), ["tokens/a", "tokens/b"])

    def test_a_page_of_keys_from_a_point(self):
        for key in ("s3/keys/b/0a", "s3/keys/b/0c", "s3/keys/b/0b", "s3/keys/b/1", "s3/keys/bb/0", "s3/other"):
            self.records.create(key, {"k": key})
        self.assertEqual(list(self.records.keys("s3/keys/b/", "s3/keys/b/0a", 2)), ["s3/keys/b/0b", "s3/keys/b/0c"])
        self.assertEqual(list(self.records.keys("s3/keys/b/", "s3/keys/b/0c")), ["s3/keys/b/1"])
        self.assertEqual(list(self.records.keys("s3/keys/b/", "", 0)), [])
        self.assertEqual([(key, plain(record.value)) for key, record in self.records.items("s3/keys/b/", "", 3)],
                         [(key, {"k": key}) for key in ("s3/keys/b/0a", "s3/keys/b/0b", "s3/keys/b/0c")])

    def test_a_walk_reads_every_record_a_page_at_a_time_while_they_go(self):
        names = ["sweep/%02d" % number for number in range(7)]
        for name in names + ["sweepy", "other/0"]:
            self.records.create(name, {"n": name})
        walked = []
        for name, record in self.records.walk("sweep/", 3):
            walked.append((name, plain(record.value)["n"]))
            self.records.delete(name)  # as a sweep removes what it looked at
        self.assertEqual(walked, [(name, name) for name in names])
        for name in names[:4]:
            self.records.create(name, {})
        self.assertEqual(list(self.records.walk_keys("sweep/", 2)), names[:4])

    def test_a_turn_is_taken_once_within_its_time(self):
        self.assertTrue(self.records.take_turn("a-sweep", 60))
        self.assertFalse(self.records.take_turn("a-sweep", 60))  # another daemon, a moment later
        self.assertTrue(self.records.take_turn("another-sweep", 60))
        self.assertTrue(self.records.take_turn("a-sweep", 0))

    def test_concurrent_updates_lose_nothing(self):
        """Eight writers, ten increments each, on one record: exactly 80."""
        def bump(value):
            return {"count": (value or {}).get("count", 0) + 1}

        def writer():
            for _ in range(10):
                self.records.update("counters/one", bump)

        threads = [threading.Thread(target=writer) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
            if thread.is_alive():
                raise AssertionError("thread did not end in time")
        self.assertEqual(self.records.get("counters/one").value["count"], 80)

    def test_an_update_that_changes_nothing_writes_nothing(self):
        self.assertIsNone(self.records.update("kv/x", lambda value: None))
        self.assertIsNone(self.records.get("kv/x"))

    def test_the_probe_passes(self):
        probe(self.records, "here")
        self.assertEqual(list(self.records.keys(".probe/")), [])


class LastWriterWins(LocalRecords):
    """Records that ignore the version a write names, as a store that
    ignores conditional writes does."""

    def replace(self, key, value, version):
        record = self.get(key)
        return super().replace(key, value, record.version)


class LocalRecordsTests(RecordsContract, unittest.TestCase):
    def make_records(self):
        folder = tempfile.mkdtemp(prefix="fsd-records-")
        self.addCleanup(shutil.rmtree, folder, True)
        return LocalRecords(os.path.join(folder, "meta.db"))

    def test_a_value_stored_with_white_space_around_it_reads(self):
        """Values written by hand or by another JSON writer (spaces after
        the separators, around the value) read as they say."""
        db = sqlite3.connect(self.records.path)
        self.addCleanup(db.close)
        with db:
            db.execute("INSERT INTO records VALUES (?, ?, ?)", ("links/spaced", ' { "n": 1, "l": [1, 2] }\n', 7))
        self.assertEqual(self.records.get("links/spaced").value, {"n": 1, "l": [1, 2]})
        self.assertEqual(self.records.update("links/spaced", lambda value: dict(value, n=2)), {"n": 2, "l": [1, 2]})

    def test_a_write_undone_leaves_no_generation_a_reader_saw_during_it(self):
        """A read inside an open write sees it before its commit (as a
        worker's threads read the writes waiting for theirs); were the write
        then undone (its commit failed: a full disk), whatever was kept
        under the generation seen then (a key's entry, an S3 answer) would
        be given again under the same generation, for a value never
        committed."""
        version = self.records.create("k", {"v": 1})
        with self.assertRaises(RuntimeError):
            with self.records.batch():
                self.records.replace("k", {"v": 2}, version)
                seen = self.records.generation()
                self.assertEqual(self.records.get("k").value, {"v": 2})
                raise RuntimeError("undone")
        self.assertEqual(self.records.get("k").value, {"v": 1})
        self.assertNotEqual(self.records.generation(), seen)

    def test_the_generation_moves_with_every_commit_whoever_makes_it(self):
        """What a cached answer is believed by: the same while nothing is
        committed, another after any commit, this connection's or another's
        (a worker process's), before and after the log is started again."""
        other = sqlite3.connect(self.records.path, isolation_level=None)
        self.addCleanup(other.close)
        seen = [self.records.generation()]
        self.assertEqual(self.records.generation(), seen[0])
        self.records.create("mine", {"v": 1})
        seen.append(self.records.generation())
        other.execute("INSERT INTO records VALUES ('theirs', '{}', 1)")
        seen.append(self.records.generation())
        self.assertEqual(self.records.generation(), seen[-1])
        other.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        other.execute("UPDATE records SET value = '{\"v\": 2}' WHERE key = 'theirs'")
        seen.append(self.records.generation())
        other.execute("DELETE FROM records WHERE key = 'theirs'")
        seen.append(self.records.generation())
        self.assertEqual(len(set(seen)), len(seen), seen)

    def test_the_generation_is_read_without_a_statement(self):
        """Every cached answer asks it: from the log's shared index, not by
        a statement (a read transaction, two file locks and three hand-overs
        of the interpreter, about a tenth of a small GET)."""
        statements: List[str] = []
        self.records._db.set_trace_callback(statements.append)
        self.addCleanup(self.records._db.set_trace_callback, None)
        for _ in range(5):
            self.records.generation()
        self.assertEqual(statements, [])

    def test_without_the_shared_index_the_generation_is_asked_of_sqlite(self):
        """A header that cannot be read (see ``WalIndexHeader``) is never
        guessed at: SQLite is asked, and commits still move it."""
        self.records._commits.close()
        other = sqlite3.connect(self.records.path, isolation_level=None)
        self.addCleanup(other.close)
        seen = self.records.generation()
        other.execute("INSERT INTO records VALUES ('theirs', '{}', 1)")
        self.assertNotEqual(self.records.generation(), seen)

    def test_a_page_from_a_cursor_costs_the_page_not_what_lies_before(self):
        """Counted in SQLite's steps, not in time: a page of one key after a
        cursor 20,000 keys into a prefix (was: every one of them walked)."""
        with self.records.batch():
            for number in range(20000):
                self.records.create("s3/keys/b/%06d" % number, {})
        steps = [0]

        def count() -> int:
            steps[0] += 1
            return 0

        db = self.records._db
        db.set_progress_handler(count, 100)
        self.addCleanup(db.set_progress_handler, None, 0)
        steps[0] = 0
        self.assertEqual(list(self.records.keys("s3/keys/b/", "s3/keys/b/019990", 1)), ["s3/keys/b/019991"])
        deep = steps[0]
        steps[0] = 0
        self.assertEqual(list(self.records.keys("s3/keys/b/", "s3/keys/b/000001", 1)), ["s3/keys/b/000002"])
        shallow = steps[0]
        self.assertLessEqual(deep, shallow + 5)

    def test_records_that_skip_fsync_still_sync_their_checkpoints(self):
        """Records whose commits are not fsynced (the throttle's, an S3
        upload's pin) share meta.db with durable ones: SQLite's NORMAL, which
        still syncs a checkpoint; OFF syncs none, and a checkpoint run there
        could leave another connection's durable commits in an unsynced file."""
        path = os.path.join(os.path.dirname(self.records.path), "meta.db")
        quick = LocalRecords(path, durable=False)
        self.addCleanup(quick.close)
        mode = {"OFF": 0, "NORMAL": 1, "FULL": 2}
        self.assertEqual(quick._db.execute("PRAGMA synchronous").fetchone()[0], mode["NORMAL"])
        self.assertEqual(self.records._db.execute("PRAGMA synchronous").fetchone()[0], mode["FULL"])

    def test_a_store_that_ignores_versions_is_refused(self):
        folder = tempfile.mkdtemp(prefix="fsd-records-")
        self.addCleanup(shutil.rmtree, folder, True)
        unsafe = LastWriterWins(os.path.join(folder, "meta.db"))
        self.addCleanup(unsafe.close)
        with self.assertRaises(UnsafeStore) as caught:
            probe(unsafe, "127.0.0.1:9")
        self.assertIn("ignores conditional writes", str(caught.exception))

    def test_updates_that_never_win_end_in_503(self):
        class AlwaysChanged(LocalRecords):
            update = Records.update  # a store's read, then a conditional write (SQLite's own is one transaction)

            def replace(self, key, value, version):
                raise Conflict("changed")

        folder = tempfile.mkdtemp(prefix="fsd-records-")
        self.addCleanup(shutil.rmtree, folder, True)
        busy = AlwaysChanged(os.path.join(folder, "meta.db"))
        self.addCleanup(busy.close)
        busy.create("k", {"n": 1})
        with self.assertRaises(BackendUnavailable):
            busy.update("k", lambda value: {"n": 2})


class LostAnswer:
    """An S3 client whose first conditional replace lands but loses its
    answer: ``meanwhile`` runs, then the request is sent again, as the
    client retries a request whose answer was lost."""

    def __init__(self, client, meanwhile) -> None:
        self.client, self.meanwhile, self.lost = client, meanwhile, False

    def __getattr__(self, name):
        return getattr(self.client, name)

    def request(self, method, key, **options):
        if method == "PUT" and not self.lost and "If-Match" in options.get("headers", {}):
            self.lost = True
            landed = self.client.request(method, key, **options)
            landed.read()
            landed.release()
            self.meanwhile()
        return self.client.request(method, key, **options)


class BucketRecordsTests(SeaweedMixin, RecordsContract, unittest.TestCase):
    def make_records(self):
        return BucketRecords(self.s3_client())

    def test_a_retried_write_that_had_landed_is_ours(self):
        """The client retries a PUT whose answer was lost; the store then
        answers 412 to our own write, and the write id tells it apart."""
        value = {"n": 1, WRITE_ID: "feedfacefeedface"}
        first = self.records._put("links/r", value, {"If-None-Match": "*"})
        self.assertEqual(self.records._put("links/r", value, {"If-None-Match": "*"}), first)
        with self.assertRaises(Conflict):
            self.records._put("links/r", dict(value, **{WRITE_ID: "other"}), {"If-None-Match": "*"})

    def test_an_update_whose_answer_was_lost_under_a_later_write_is_applied_once(self):
        """Our write lands, its answer is lost, another daemon updates the
        record on top of it, and the client sends ours again: the store
        answers 412 and the record's write id is the other's. Ours landed
        all the same (the later write was built on it): it must not be
        applied a second time (a download counted twice, a new key called
        an update)."""
        self.records.create("links/c", {"n": 0})

        def another_daemon() -> None:
            self.records.update("links/c", lambda value: dict(value, n=value["n"] + 10))

        ours = BucketRecords(LostAnswer(self.s3_client(), another_daemon))
        ours.update("links/c", lambda value: dict(value, n=value["n"] + 1))
        self.assertEqual(self.records.get("links/c").value["n"], 11)  # was 12: ours applied twice

    def test_a_swap_of_the_record_as_read_keeps_an_earlier_write_landed(self):
        """As above, the later write a swap of the record as read
        (``replace_as_read``, what a key's commit does to a blob record it
        has just read): ours landed under it all the same."""
        self.records.create("links/d", {"n": 0})

        def another_daemon() -> None:
            record = self.records.get("links/d")
            self.records.replace_as_read("links/d", record, dict(record.value, n=record.value["n"] + 10))

        ours = BucketRecords(LostAnswer(self.s3_client(), another_daemon))
        ours.update("links/d", lambda value: dict(value, n=value["n"] + 1))
        self.assertEqual(self.records.get("links/d").value["n"], 11)

    def test_records_live_under_their_prefix(self):
        self.records.create("tokens/x", {})
        self.assertIn("records/tokens/x", self.keys_in_bucket())

    def test_the_clock_is_the_stores(self):
        self.records.get("links/none")
        import time

        self.assertLess(abs(self.records.now() - time.time()), 5)


class TokenCommandProbeTests(unittest.TestCase):
    def test_the_token_command_refuses_a_store_that_ignores_conditional_writes(self):
        """As the daemon does at start: a second admin token with the name of
        the first would otherwise replace it blind."""
        from unittest import mock

        from filestoraged import config as config_module
        from filestoraged.subcommands.token import run_token

        folder = tempfile.mkdtemp(prefix="fsd-records-")
        self.addCleanup(shutil.rmtree, folder, True)
        unsafe = LastWriterWins(os.path.join(folder, "meta.db"))
        throttle = LocalRecords(os.path.join(folder, "throttle.db"))
        config = config_module.load(["token", "create", "--scope", "admin", "--name", "ops", "--data-dir", folder])
        config = dataclasses.replace(config, records="s3", s3_endpoint="http://127.0.0.1:9")
        err = io.StringIO()
        with mock.patch("filestoraged.deployment.bucket.SharedBucket.open_records", return_value=(unsafe, throttle)), \
                contextlib.redirect_stderr(err):
            status = run_token(config)
        self.assertEqual(status, 1)
        self.assertIn("ignores conditional writes", err.getvalue())
        after = LocalRecords(os.path.join(folder, "meta.db"))
        self.addCleanup(after.close)
        self.assertEqual(list(after.keys("tokens/")), [])  # no token was made


class StoreThatTurnsBlindTests(unittest.TestCase):
    """A store that stops honouring conditional writes while the daemon
    serves is found by the next probe (at most ``PROBE_EVERY`` after the
    last): conditional writes then answer 503 with one ERROR line, nothing
    is written blind, and they work again once the store honours them."""

    def test_conditional_writes_are_refused_once_a_probe_finds_the_store_blind(self):
        class Switchable(LastWriterWins):
            blind = False

            def replace(self, key, value, version):
                if self.blind:
                    return super().replace(key, value, version)
                return LocalRecords.replace(self, key, value, version)

        folder = tempfile.mkdtemp(prefix="fsd-records-")
        self.addCleanup(shutil.rmtree, folder, True)
        inner = Switchable(os.path.join(folder, "meta.db"))
        self.addCleanup(inner.close)
        clock = FakeClock()
        records = CheckedRecords(inner, "127.0.0.1:9", clock=clock)
        first = records.create("links/a", {"n": 1})
        records.replace("links/a", {"n": 2}, first)
        with self.assertRaises(Conflict):  # honoured: a stale version loses
            records.replace("links/a", {"n": 3}, first)
        inner.blind = True
        clock.advance(PROBE_EVERY)
        with self.assertLogs("filestoraged.records.checked", "ERROR") as logs:
            for write in (lambda: records.update("links/a", lambda value: {"n": 4}),
                          lambda: records.create("links/b", {"n": 1}),
                          lambda: records.delete("links/a", "1")):
                with self.assertRaises(BackendUnavailable) as caught:
                    write()
                self.assertIn("ignores conditional writes", caught.exception.text)
        self.assertEqual(len(logs.records), 1)
        self.assertEqual(inner.get("links/a").value["n"], 2)  # nothing was written blind
        self.assertIsNone(inner.get("links/b"))
        self.assertEqual(records.get("links/a").value["n"], 2)  # reads still answer
        inner.blind = False
        clock.advance(PROBE_EVERY)
        self.assertEqual(plain(records.update("links/a", lambda value: {"n": 5})), {"n": 5})


class LapsedLeaseTests(unittest.TestCase):
    """--records s3: a download whose count cannot be written is cut once
    its reservation may have lapsed (another daemon may have been given the
    download meanwhile), and only then; here over SQLite records that a
    switch makes refuse every write, as an unreachable store does."""

    def setUp(self) -> None:
        import io

        from filestoraged.sharing.links import LinkStore
        from filestoraged.storage.disk.backend import DiskBackend
        from filestoraged.storage.names import SHARES

        folder = tempfile.mkdtemp(prefix="fsd-lease-")
        self.addCleanup(shutil.rmtree, folder, True)

        class Unreachable(LocalRecords):
            down = False
            update = Records.update  # through replace, as over the network

            def replace(self, key, value, version):
                if self.down:
                    raise BackendUnavailable("the store is not answering")
                return super().replace(key, value, version)

        self.records = Unreachable(os.path.join(folder, "records.db"))
        self.addCleanup(self.records.close)
        throttle = LocalRecords(os.path.join(folder, "throttle.db"), durable=False)
        self.addCleanup(throttle.close)
        backend = DiskBackend(os.path.join(folder, "store"), 1024 * 1024)
        self.store = LinkStore(self.records, backend, throttle, lease=60.0)
        self.addCleanup(self.store.close)
        info = backend.put(SHARES, io.BytesIO(b"only once")).info
        self.link_id = self.store.create(info.oid, info.size, "once.txt", "text/plain", None, 1, 3600).id

    def test_within_its_lease_the_count_waits_for_the_store(self):
        hold = self.store.reserve(self.link_id)
        self.records.down = True
        self.store.finish(hold, complete=True)  # kept, renewed, counted once the store is back: not cut

    def test_past_its_lease_the_last_piece_is_cut(self):
        hold = self.store.reserve(self.link_id)
        self.records.down = True
        later = time.monotonic() + 61
        with mock.patch("filestoraged.sharing.links.time.monotonic", return_value=later):
            with self.assertRaises(BackendUnavailable) as caught:
                self.store.finish(hold, complete=True)
        self.assertIn("may have lapsed", str(caught.exception))


class PostgresRecordsTests(PostgresMixin, RecordsContract, unittest.TestCase):
    """The contract on a real PostgreSQL (its own cluster, SCRAM sign-in)."""

    def make_records(self):
        return PostgresRecords(self.postgres.address(self.database))

    def test_a_record_made_again_never_takes_back_a_version_a_reader_holds(self):
        first = self.records.create("links/again", {"n": 1})
        self.records.delete("links/again")
        self.records.create("links/again", {"n": 2})
        with self.assertRaises(Conflict):
            self.records.replace("links/again", {"n": 3}, first)

    def test_a_batch_is_one_transaction_rolled_back_if_it_fails(self):
        with self.assertRaises(RuntimeError):
            with self.records.batch():
                self.records.create("kv/one", {"n": 1})
                other = PostgresRecords(self.postgres.address(self.database))
                self.addCleanup(other.close)
                self.assertIsNone(other.get("kv/one"))  # not seen before the commit
                raise RuntimeError("the block failed")
        self.assertIsNone(self.records.get("kv/one"))
        with self.records.batch():
            self.records.create("kv/two", {"n": 2})
        self.assertEqual(plain(self.records.get("kv/two").value), {"n": 2})

    def test_serialized_transactions_that_race_run_again_and_lose_no_change(self):
        """Two writers each read two records and write their sum plus one
        into both, in serialized transactions at once: the loser's is
        rolled back and run again on what the winner committed (1 and 1),
        so the records end at 3 and 3; neither run is lost, none applied
        on a stale read."""
        other = PostgresRecords(self.postgres.address(self.database))
        self.addCleanup(other.close)
        self.records.create("kv/a", {"n": 0})
        self.records.create("kv/b", {"n": 0})
        both_read = threading.Barrier(2, timeout=30)
        runs: List[str] = []

        def add_one(records, name: str) -> None:
            def block() -> None:
                runs.append(name)
                total = records.get("kv/a").value["n"] + records.get("kv/b").value["n"]
                if runs.count(name) == 1:
                    both_read.wait()  # the first run of each reads before either writes
                for key in ("kv/a", "kv/b"):
                    found = records.get(key)
                    records.replace(key, {"n": total + 1}, found.version)
            records.serialized(block)

        with Threads(60) as threads:
            threads.start(add_one, self.records, "one")
            threads.start(add_one, other, "two")
        self.assertEqual((self.records.get("kv/a").value["n"], self.records.get("kv/b").value["n"]), (3, 3))
        self.assertEqual(len(runs), 3, runs)  # one of them ran twice

    def test_which_of_many_keys_are_present_in_one_statement(self):
        awkward = ['kv/a"quote', "kv/back\\slash", "kv/com,ma", "kv/{brace}", "kv/plain"]
        for key in awkward[:-1]:
            self.records.create(key, {})
        self.assertEqual(self.records.present(awkward + ["kv/none"]), set(awkward[:-1]))
        self.assertEqual(self.records.present([]), set())

    def test_at_most_a_pool_of_connections_then_503(self):
        from filestoraged.records import postgres as module

        with mock.patch.object(module, "POOL_WAIT", 0.2), contextlib.ExitStack() as held:
            for _ in range(module.POOL):
                held.enter_context(self.records._connection())
            with self.assertRaises(BackendUnavailable):  # every one busy: a 503, not a wait without end
                self.records.get("kv/any")
        self.assertIsNone(self.records.get("kv/any"))  # given back: served again

    def test_tls_required_and_the_servers_certificate_checked(self):
        plain = self.postgres.address(self.database)
        for tls, ca in (("require", None), ("verify-full", self.postgres.certificate)):
            records = PostgresRecords(dataclasses.replace(plain, tls=tls, ca=ca))
            self.addCleanup(records.close)
            records.create("kv/%s" % tls, {})
            with records._connection() as connection:
                self.assertIsInstance(connection._sock, ssl.SSLSocket, tls)
        with self.assertRaises(BackendUnavailable) as refused:  # the system's authorities do not know it
            PostgresRecords(dataclasses.replace(plain, tls="verify-full"))
        self.assertIn("certificate verify failed", refused.exception.text)

    def test_connections_the_database_ended_while_idle_are_replaced_not_tried(self):
        records = PostgresRecords(self.postgres.address(self.database))
        self.addCleanup(records.close)
        records.create("kv/here", {})
        with records._connection() as first:
            pass
        with records._connection() as again:
            self.assertIs(again, first)  # one the database did not end is used again, not replaced
        with contextlib.ExitStack() as held:  # three connections in the pool
            for _ in range(3):
                held.enter_context(records._connection())
        self.assertGreaterEqual(self.terminate_others(), 3)  # as a restart of the database ends them
        for _ in range(3):
            self.assertIsNotNone(records.get("kv/here"))  # at once, each on a new connection: no 503

    def test_a_connection_lost_under_a_statement_is_unavailable_then_replaced(self):
        records = PostgresRecords(self.postgres.address(self.database))
        self.addCleanup(records.close)
        records.create("kv/here", {})
        with self.assertRaises(BackendUnavailable):
            with records.batch():
                records.get("kv/here")
                self.terminate_others()  # lost in the middle: what it did is not known, so a 503
                records.get("kv/here")
        self.assertIsNotNone(records.get("kv/here"))  # a new connection

    def test_two_batches_in_a_deadlock_one_answers_503_the_other_goes_through(self):
        other = PostgresRecords(self.postgres.address(self.database))
        self.addCleanup(other.close)
        self.records.create("kv/a", {"n": 0})
        self.records.create("kv/b", {"n": 0})
        both_hold_one = threading.Barrier(2, timeout=30)

        def crossed(records, first: str, second: str) -> str:
            try:
                with records.batch():
                    records.update(first, lambda value: dict(value, n=value["n"] + 1))
                    both_hold_one.wait()
                    records.update(second, lambda value: dict(value, n=value["n"] + 1))
            except BackendUnavailable as error:  # the database broke the deadlock by ending this one
                return "503: " + error.text
            return "done"

        with Threads() as threads:
            threads.start(crossed, self.records, "kv/a", "kv/b")
            threads.start(crossed, other, "kv/b", "kv/a")
        self.assertEqual(sorted(outcome[:4] for outcome in threads.results), ["503:", "done"], threads.results)
        self.assertIn("deadlock", [outcome for outcome in threads.results if outcome != "done"][0])
        # the one that went through did both; nothing of the other is left
        self.assertEqual((self.records.get("kv/a").value["n"], self.records.get("kv/b").value["n"]), (1, 1))

    def test_an_update_kept_waiting_past_the_statement_timeout_is_a_503(self):
        hurried = PostgresRecords(dataclasses.replace(self.postgres.address(self.database),
                                                      options="-c statement_timeout=300ms"))
        self.addCleanup(hurried.close)
        self.records.create("kv/held", {"n": 0})
        with self.records.batch():
            self.records.update("kv/held", lambda value: dict(value, n=1))  # locked until the batch ends
            with self.assertRaises(BackendUnavailable):
                hurried.update("kv/held", lambda value: dict(value, n=2))
        self.assertEqual(self.records.get("kv/held").value["n"], 1)

    def terminate_others(self) -> int:
        """The server ends every other connection to this test's database; how many."""
        from filestoraged.wire.postgres import Connection

        admin = Connection(self.postgres.address(self.database))
        try:
            return len(admin.query("SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "  # (ended: waited)
                                   "WHERE datname = $1 AND pid <> pg_backend_pid()", [self.database]).rows)
        finally:
            admin.close()

    def test_the_clock_is_this_machines_set_by_the_databases_skew(self):
        clock = FakeClock(time.time())
        records = PostgresRecords(self.postgres.address(self.database), clock)
        self.addCleanup(records.close)
        self.assertLess(abs(records.now() - clock()), 1)  # one machine's database: no skew to speak of
        clock.advance(3600)  # the time every lease and expiry is judged by moves with this machine's clock
        self.assertLess(abs(records.now() - clock()), 1)
