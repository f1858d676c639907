"""/kv: the transactional JSON key-value store, over HTTP."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
import threading
import unittest
import urllib.request

from ..support import Daemon, ServerCase, Threads


class KVContract:
    prefix = "/kv"

    def kv(self, method: str, route: str, body=None):
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        return self.request(method, self.prefix + route, data, {"Content-Type": "application/json"})

    def test_the_documented_session(self):
        reply = self.kv("GET", "/key")
        self.assertError(reply, 404, "not_found")
        reply = self.kv("POST", "/set", {"key": "value"})
        self.assertEqual((reply.status, reply.json()), (201, {"key": "value"}))
        self.assertEqual(self.kv("GET", "/key").status, 404)  # not committed yet
        reply = self.kv("POST", "/commit")
        self.assertEqual((reply.status, reply.body), (204, b""))
        reply = self.kv("GET", "/key")
        self.assertEqual((reply.status, reply.json()), (200, {"key": "value"}))
        reply = self.kv("DELETE", "/set", "key")
        self.assertEqual(reply.status, 200)
        self.assertEqual(reply.json(), {"deleted": "key"})
        self.assertEqual(self.kv("GET", "/key").json(), {"key": "value"})  # still there
        self.assertEqual(self.kv("POST", "/commit").status, 204)
        self.assertError(self.kv("GET", "/key"), 404, "not_found")

    def test_new_means_absent_from_committed_state_with_staging_laid_over(self):
        self.assertEqual(self.kv("POST", "/set", {"a": 1}).status, 201)
        self.assertEqual(self.kv("POST", "/set", {"a": 2}).status, 200)  # staged already
        self.kv("POST", "/commit")
        self.assertEqual(self.kv("POST", "/set", {"a": 3}).status, 200)  # committed
        self.kv("DELETE", "/set", "a")
        self.assertEqual(self.kv("POST", "/set", {"a": 4}).status, 201)  # staged for deletion
        self.kv("POST", "/commit")
        self.assertEqual(self.kv("GET", "/a").json(), {"a": 4})

    def test_any_json_value_round_trips(self):
        values = {"n": None, "list": [1, "two", {"three": 3.5}], "t": True, "s": "ünïcode ✓", "o": {}}
        for key, value in values.items():
            self.kv("POST", "/set", {key: value})
        self.kv("POST", "/commit")
        for key, value in values.items():
            self.assertEqual(self.kv("GET", "/" + key).json(), {key: value})
        self.assertEqual(self.kv("GET", "/my%20key").status, 404)
        self.kv("POST", "/set", {"my key": 1})
        self.kv("POST", "/commit")
        self.assertEqual(self.kv("GET", "/my%20key").json(), {"my key": 1})

    def test_deleting_a_key_that_never_existed_is_200(self):
        reply = self.kv("DELETE", "/set", "never")
        self.assertEqual(reply.status, 200)
        self.assertEqual(self.kv("POST", "/commit").status, 204)

    def test_bad_payloads_are_400(self):
        for body in (b"{not json", b"", b"[1, 2]", b'"just a string"', b"{}", b'{"a": 1, "b": 2}', b"\xff"):
            with self.subTest(body=body):
                self.assertError(self.kv("POST", "/set", body), 400, "bad_request")
        for body in (b"{bad", b'{"a": 1}', b"42", b"null"):
            with self.subTest(body=body):
                self.assertError(self.kv("DELETE", "/set", body), 400, "bad_request")
        self.assertError(self.kv("GET", "/a"), 404, "not_found")  # nothing was staged

    def test_head_answers_as_get_without_a_body(self):
        self.assertEqual(self.kv("POST", "/set", {"h": [1, 2]}).status, 201)
        self.assertEqual(self.kv("POST", "/commit").status, 204)
        reply = self.kv("HEAD", "/h")
        if self.prefix == "":  # the drop-in root mode: seed 003 answers 404 to what it does not specify
            self.assertEqual((reply.status, reply.body), (404, b""))
            return
        self.assertEqual((reply.status, reply.body), (200, b""))
        self.assertEqual(reply.headers["Content-Length"], str(len(b'{"h":[1,2]}\n')))
        self.assertEqual(self.kv("HEAD", "/absent").status, 404)

    def test_unknown_routes_and_methods_are_404(self):
        for method, route in (("PUT", "/set"), ("GET", ""), ("GET", "/"), ("POST", "/thing"),
                              ("DELETE", "/thing"), ("PUT", "/commit"), ("DELETE", "/commit"),
                              ("PATCH", "/set"), ("HEAD", "/thing"), ("GET", "/a/b"), ("BREW", "/set")):
            with self.subTest(method=method, route=route):
                reply = self.kv(method, route)
                self.assertEqual(reply.status, 404, (method, route))
                if method != "HEAD":
                    self.assertEqual(reply.json()["error"], "not_found")

    def test_commits_are_seen_whole_by_concurrent_readers(self):
        keys = ["k%02d" % i for i in range(20)]
        stop = threading.Event()
        torn = []

        reads = [0]

        def count_reads():
            while not stop.is_set():
                read_once()
                reads[0] += 1

        def read_once():
            first = self.kv("GET", "/" + keys[0])
            last = self.kv("GET", "/" + keys[-1])
            if first.status == 200:
                # Commits apply keys in order; a torn commit would show an
                # older last key after a newer first key.
                if last.status != 200 or last.json()[keys[-1]] < first.json()[keys[0]]:
                    torn.append((first.body, last.body))

        with Threads() as readers:
            for _ in range(3):
                readers.start(count_reads)
            try:
                for generation in range(15):
                    for key in keys:
                        self.kv("POST", "/set", {key: generation})
                    self.kv("POST", "/commit")
            finally:
                stop.set()
        self.assertGreater(reads[0], 15)  # the readers read while the commits ran
        self.assertEqual(torn, [])
        self.assertEqual(self.kv("GET", "/" + keys[-1]).json(), {keys[-1]: 14})

    def test_committed_and_staged_data_survive_a_restart(self):
        self.kv("POST", "/set", {"kept": [1, 2]})
        self.kv("POST", "/commit")
        self.kv("POST", "/set", {"staged": "yes"})
        self.kv("DELETE", "/set", "kept")
        self.restart_server()
        self.assertEqual(self.kv("GET", "/kept").json(), {"kept": [1, 2]})
        self.assertEqual(self.kv("POST", "/commit").status, 204)
        self.assertEqual(self.kv("GET", "/staged").json(), {"staged": "yes"})
        self.assertEqual(self.kv("GET", "/kept").status, 404)


class KVTests(KVContract, ServerCase):
    def test_a_full_disk_is_507_for_set_and_commit_and_loses_nothing(self):
        self.assertEqual(self.kv("POST", "/set", {"kept": 1}).status, 201)
        self.assertEqual(self.kv("POST", "/commit").status, 204)
        big = "x" * 200000
        self.assertEqual(self.kv("POST", "/set", {"staged": big}).status, 201)
        db = self.app.kv.records._db  # its own connection to meta.db
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute("PRAGMA max_page_count = %d" % pages)  # the file cannot grow: as on a full disk
        self.assertError(self.kv("POST", "/set", {"more": big}), 507, "insufficient_storage")
        self.assertError(self.kv("POST", "/commit"), 507, "insufficient_storage")
        db.execute("PRAGMA max_page_count = 1073741823")
        self.assertEqual(self.kv("GET", "/kept").json(), {"kept": 1})
        self.assertError(self.kv("GET", "/staged"), 404, "not_found")  # the failed commit applied nothing
        self.assertEqual(self.kv("POST", "/commit").status, 204)
        self.assertEqual(self.kv("GET", "/staged").json(), {"staged": big})

    def test_other_faces_still_answer_beside_kv(self):
        self.assertEqual(self.request("GET", "/healthz").status, 200)

    def test_keys_of_the_earlier_tables_in_meta_db_are_kept(self):
        """Before the store moved into the records it had tables of its own
        in meta.db: a daemon started on such a data directory keeps every
        committed key, and every staged change for the next commit."""
        self.kv("POST", "/set", {"new": 0})
        self.kv("POST", "/commit")
        db = sqlite3.connect(os.path.join(self.data_dir, "meta.db"))
        with db:
            db.executescript("""
                CREATE TABLE kv_committed (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
                CREATE TABLE kv_staged (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
                CREATE TABLE kv_state (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
                INSERT INTO kv_committed VALUES ('kept', '{"n":[1,2]}'), ('going', 'null');
                INSERT INTO kv_staged VALUES ('coming', '"soon"'), ('going', NULL);
                INSERT INTO kv_state VALUES ('generation', 3), ('staged_keys', 2), ('staged_bytes', 20);
            """)
        db.close()
        self.restart_server()
        self.assertEqual(self.kv("GET", "/kept").json(), {"kept": {"n": [1, 2]}})
        self.assertEqual(self.kv("GET", "/going").json(), {"going": None})
        self.assertEqual(self.kv("GET", "/new").json(), {"new": 0})
        self.assertEqual(self.kv("GET", "/coming").status, 404)  # staged, not committed
        self.assertEqual(self.kv("POST", "/commit").status, 204)
        self.assertEqual(self.kv("GET", "/coming").json(), {"coming": "soon"})
        self.assertEqual(self.kv("GET", "/going").status, 404)
        tables = sqlite3.connect(os.path.join(self.data_dir, "meta.db"))
        self.addCleanup(tables.close)
        self.assertIsNone(tables.execute("SELECT 1 FROM sqlite_master WHERE name = 'kv_committed'").fetchone())
        self.restart_server()  # moved once: nothing is moved again
        self.assertEqual(self.kv("GET", "/coming").json(), {"coming": "soon"})


class KVAtRootTests(KVContract, ServerCase):
    prefix = ""
    config_overrides = {"kv_at_root": True}

    def test_only_the_kv_face_is_served(self):
        self.assertEqual(self.request("GET", "/healthz").status, 404)  # a key named healthz
        self.assertEqual(self.request("POST", "/files", b"x").status, 404)


class KVLimitTests(ServerCase):
    config_overrides = {"kv_max_key": 10, "kv_max_value": 100, "kv_max_staged_keys": 3,
                        "kv_max_staged_bytes": 150}

    def kv(self, method, route, body):
        return self.request(method, "/kv" + route, json.dumps(body).encode())

    def test_limits_give_clear_413s(self):
        self.assertError(self.kv("POST", "/set", {"k" * 11: 1}), 413, "too_large")
        self.assertError(self.kv("POST", "/set", {"k": "v" * 200}), 413, "too_large")
        self.assertError(self.kv("DELETE", "/set", "k" * 11), 413, "too_large")
        for key in ("a", "b", "c"):
            self.assertEqual(self.kv("POST", "/set", {key: 1}).status, 201)
        self.assertEqual(self.kv("POST", "/set", {"a": 2}).status, 200)  # restaging is free
        reply = self.kv("POST", "/set", {"d": 1})
        self.assertError(reply, 413, "too_large")
        self.assertIn("commit", reply.json()["message"])
        self.request("POST", "/kv/commit")
        self.assertEqual(self.kv("POST", "/set", {"big": "x" * 90}).status, 201)
        self.assertError(self.kv("POST", "/set", {"big2": "x" * 90}), 413, "too_large")  # bytes


class KVKillTests(unittest.TestCase):
    def test_a_commit_that_answered_survives_kill_9(self):
        data_dir = tempfile.mkdtemp(prefix="fsd-kv-")
        self.addCleanup(shutil.rmtree, data_dir, True)
        daemon = Daemon(data_dir, "--kv-at-root").start()
        url = "http://127.0.0.1:%d" % daemon.port

        def call(method, route, body=None):
            data = None if body is None else json.dumps(body).encode()
            request = urllib.request.Request(url + route, data=data, method=method)
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return response.status, response.read()
            except urllib.error.HTTPError as error:
                return error.code, error.read()

        self.assertEqual(call("POST", "/set", {"durable": {"n": 1}})[0], 201)
        self.assertEqual(call("POST", "/commit")[0], 204)
        self.assertEqual(call("POST", "/set", {"pending": 2})[0], 201)
        daemon.kill()
        daemon = Daemon(data_dir, "--kv-at-root", port=daemon.port).start()
        self.addCleanup(daemon.stop)
        self.assertEqual(call("GET", "/durable"), (200, b'{"durable":{"n":1}}\n'))
        self.assertEqual(call("GET", "/pending")[0], 404)
        self.assertEqual(call("POST", "/commit")[0], 204)
        self.assertEqual(call("GET", "/pending"), (200, b'{"pending":2}\n'))


class KVCacheBoundTests(unittest.TestCase):
    def test_the_cache_is_bounded_in_bytes_not_only_in_keys(self):
        from filestoraged.kvstore.store import CACHE_BYTES, KVLimits, KVStore
        from filestoraged.records.local import LocalRecords

        folder = tempfile.mkdtemp(prefix="fsd-kvcache-")
        self.addCleanup(shutil.rmtree, folder, True)
        store = KVStore(LocalRecords(os.path.join(folder, "meta.db")), KVLimits(cache_keys=4096), own=True)
        self.addCleanup(store.close)
        big = "x" * (60 * 1024)
        for number in range(300):  # 300 values of 60 KiB: 17.6 MiB if all were kept
            store.stage_set("key%03d" % number, big)
        store.commit()
        for number in range(300):
            self.assertEqual(store.lookup("key%03d" % number), (True, big))
        held = sum(len(text) for text in store._cache.values())
        self.assertLessEqual(held, CACHE_BYTES)
        self.assertEqual(held, store._cached_bytes)
        self.assertGreater(len(store._cache), 100)  # and it still caches
