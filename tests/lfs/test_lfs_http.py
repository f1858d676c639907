"""The Git LFS face spoken by hand: the batch API, the basic transfer, the
locking API, access and errors (the real git-lfs client in test_lfs_client)."""

from __future__ import annotations

import base64
import json
import threading
from unittest import mock
from urllib.parse import quote

from filestoraged.lfs import transfers

from ..support import MIB, ServerCase, payload, sha256

LFS = "application/vnd.git-lfs+json"
HEADERS = {"Accept": LFS, "Content-Type": LFS}


def basic(secret: str, user: str = "git") -> dict:
    return {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (user, secret)).encode()).decode()}


class LfsCase(ServerCase):
    def lfs(self, method: str, path: str, body=None, headers=None):
        sent = dict(HEADERS, **(headers or {}))
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        return self.request(method, "/lfs/proj" + path, data, sent)

    def batch(self, operation: str, objects, headers=None):
        return self.lfs("POST", "/objects/batch", {"operation": operation, "transfers": ["basic"],
                                                   "objects": objects, "hash_algo": "sha256"}, headers)

    def assertLfsError(self, reply, status: int) -> dict:
        self.assertEqual(reply.status, status, reply)
        self.assertEqual(reply.headers["Content-Type"], LFS)
        body = reply.json()
        self.assertIsInstance(body["message"], str)
        self.assertRegex(body["request_id"], r"^[0-9a-f]{16}$")
        return body


class BatchTests(LfsCase):
    def test_upload_verify_download_through_the_actions(self):
        data = payload(3 * MIB + 7, seed=41)
        oid = sha256(data)
        reply = self.batch("upload", [{"oid": oid, "size": len(data)}])
        self.assertEqual((reply.status, reply.headers["Content-Type"]), (200, LFS))
        (entry,) = reply.json()["objects"]
        self.assertEqual(reply.json()["transfer"], "basic")
        upload, verify = entry["actions"]["upload"], entry["actions"]["verify"]
        self.assertEqual(upload["href"], "http://127.0.0.1:%d/lfs/proj/objects/%s" % (self.port, oid))
        path = upload["href"].split(str(self.port), 1)[1]
        self.assertEqual(self.request("PUT", path, data).status, 200)
        verified = self.request("POST", verify["href"].split(str(self.port), 1)[1],
                                json.dumps({"oid": oid, "size": len(data)}).encode(), HEADERS)
        self.assertEqual(verified.status, 200, verified)
        # The object is the repository's /data object.
        self.assertEqual(self.request("GET", "/data/proj/" + oid).body, data)
        again = self.batch("upload", [{"oid": oid, "size": len(data)}]).json()["objects"][0]
        self.assertNotIn("actions", again)  # stored already: nothing to send
        down = self.batch("download", [{"oid": oid, "size": len(data)}]).json()["objects"][0]
        href = down["actions"]["download"]["href"]
        self.assertEqual(href, "http://127.0.0.1:%d/data/proj/%s" % (self.port, oid))
        ranged = self.request("GET", "/data/proj/" + oid, headers={"Range": "bytes=%d-" % MIB})
        self.assertEqual((ranged.status, ranged.body), (206, data[MIB:]))

    def test_each_object_gets_its_own_error(self):
        stored = b"stored"
        self.request("PUT", "/data/proj", stored)
        objects = [{"oid": sha256(b"missing"), "size": 7}, {"oid": "XYZ", "size": 1},
                   {"oid": sha256(b"x"), "size": -1}, {"oid": sha256(stored), "size": 99},
                   {"oid": sha256(stored), "size": len(stored)},
                   {"oid": sha256(b"huge"), "size": self.config.max_size + 1}, "nonsense"]
        codes = [entry.get("error", {}).get("code") for entry in self.batch("download", objects).json()["objects"]]
        self.assertEqual(codes, [404, 422, 422, 422, None, 422, 422])

    def test_wrong_bytes_on_the_upload_href_are_refused_and_nothing_is_kept(self):
        claimed = sha256(b"what the batch said")
        reply = self.request("PUT", "/lfs/proj/objects/" + claimed, b"other bytes altogether")
        self.assertLfsError(reply, 422)
        self.assertEqual(self.request("GET", "/data/proj").json(), [])
        self.assertEqual(self.stored_files(), [])
        self.assertLfsError(self.request("PUT", "/lfs/proj/objects/nothex", b"x"), 422)

    def test_verify_of_a_missing_or_resized_object(self):
        self.assertLfsError(self.lfs("POST", "/objects/verify", {"oid": sha256(b"no"), "size": 2}), 404)
        self.request("PUT", "/data/proj", b"four")
        self.assertLfsError(self.lfs("POST", "/objects/verify", {"oid": sha256(b"four"), "size": 5}), 422)

    def test_a_big_batch_looks_objects_up_a_few_at_a_time_in_order(self):
        """A download batch of 1,000 objects: its store lookups (a HEAD each
        on S3) run several at once, bounded, and the answer keeps the order
        (they ran one after the other: 1.35 s on S3)."""
        stored = {sha256(b"%d" % n): n for n in range(0, 1000, 7)}
        for n in stored.values():
            self.request("PUT", "/data/proj", b"%d" % n)
        running, most, arrived, lock = [0], [0], [0], threading.Lock()
        met = threading.Event()
        real = self.app.backend.stat

        def stat(namespace, oid):
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
                arrived[0] += 1
                number = arrived[0]
            try:
                if number == 2:
                    met.set()
                elif number == 1 and not met.wait(10):  # the first waits for a second to run beside it
                    raise AssertionError("the lookups ran one after the other")
                return real(namespace, oid)
            finally:
                with lock:
                    running[0] -= 1

        wanted = [{"oid": sha256(b"%d" % n), "size": len(b"%d" % n)} for n in range(1000)]
        with mock.patch.object(self.app.backend, "stat", stat):
            objects = self.batch("download", wanted).json()["objects"]
        self.assertEqual([entry["oid"] for entry in objects], [entry["oid"] for entry in wanted])
        self.assertEqual(sum("actions" in entry for entry in objects), len(stored))
        self.assertGreater(most[0], 1)  # was: 1
        self.assertLessEqual(most[0], transfers.STATS_AT_ONCE)

    def test_bad_batches_get_the_specs_statuses(self):
        self.assertLfsError(self.lfs("POST", "/objects/batch", b"{not json"), 400)
        self.assertLfsError(self.lfs("POST", "/objects/batch", {"operation": "steal", "objects": []}), 422)
        self.assertLfsError(self.lfs("POST", "/objects/batch", {"operation": "upload", "objects": "x"}), 422)
        self.assertLfsError(self.lfs("POST", "/objects/batch", {"operation": "upload", "objects": [],
                                                                "transfers": ["tus"]}), 422)
        self.assertLfsError(self.lfs("POST", "/objects/batch", {"operation": "upload", "objects": [],
                                                                "hash_algo": "md5"}), 422)
        self.assertLfsError(self.batch("upload", [{"oid": sha256(b"%d" % i), "size": 1} for i in range(1001)]), 413)
        self.assertLfsError(self.lfs("POST", "/objects/batch", {"operation": "upload", "objects": []},
                                     {"Accept": "application/json"}), 406)
        self.assertLfsError(self.request("POST", "/lfs/..bad/objects/batch", b"{}", HEADERS), 400)

    def test_a_batch_looks_each_object_up_once(self):
        looked = []
        real = self.app.backend.stat

        def stat(namespace, oid):
            looked.append(oid)
            return real(namespace, oid)

        same = [{"oid": sha256(b"same"), "size": 4}] * 500
        with mock.patch.object(self.app.backend, "stat", stat):
            objects = self.batch("download", same).json()["objects"]
        self.assertEqual(len(objects), 500)
        self.assertEqual(looked, [sha256(b"same")])


class AnonymousBatchTests(LfsCase):
    config_overrides = {"auth": "writes"}

    def test_a_public_download_batch_is_bounded_and_a_token_lifts_it(self):
        wanted = [{"oid": sha256(b"%d" % n), "size": len(b"%d" % n)} for n in range(101)]
        self.assertLfsError(self.batch("download", wanted), 413)
        self.assertEqual(self.batch("download", wanted[:100]).status, 200)
        token = basic(self.app.tokens.create(["data:proj:read"], "reader")[1])
        self.assertEqual(self.batch("download", wanted * 9, token).status, 200)


class LfsAccessTests(LfsCase):
    config_overrides = {"auth": "writes"}

    def setUp(self) -> None:
        super().setUp()
        self.writer = self.app.tokens.create(["data:proj:write"], "alice")[1]
        self.reader = self.app.tokens.create(["data:proj:read"], "reader")[1]

    def test_downloads_are_open_uploads_need_the_write_scope(self):
        data = b"pushed"
        objects = [{"oid": sha256(data), "size": len(data)}]
        refused = self.assertLfsError(self.batch("upload", objects), 401)
        self.assertIn("token", refused["message"])
        reply = self.batch("upload", objects)
        self.assertEqual(reply.headers["LFS-Authenticate"], 'Basic realm="filestoraged Git LFS", charset="UTF-8"')
        forbidden = self.assertLfsError(self.batch("upload", objects, basic(self.reader)), 403)
        self.assertIn("data:proj:write", forbidden["message"])
        self.assertLfsError(self.request("PUT", "/lfs/proj/objects/" + sha256(data), data, basic(self.reader)), 403)
        entry = self.batch("upload", objects, basic(self.writer)).json()["objects"][0]
        upload = entry["actions"]["upload"]
        self.assertEqual(upload["header"], basic(self.writer))  # git-lfs sends it to the href
        self.assertEqual(self.request("PUT", "/lfs/proj/objects/" + sha256(data), data, upload["header"]).status, 200)
        # Anyone may download under --auth writes, as from /data.
        down = self.batch("download", objects).json()["objects"][0]
        self.assertIn("download", down["actions"])


class LockTests(LfsCase):
    config_overrides = {"auth": "writes"}

    def setUp(self) -> None:
        super().setUp()
        self.alice = basic(self.app.tokens.create(["data:proj:write"], "alice")[1])
        self.bob = basic(self.app.tokens.create(["data:proj:write"], "bob")[1])
        self.admin = basic(self.app.tokens.create(["data:proj:write", "data:proj:delete"], "admin")[1])

    def test_lock_list_verify_unlock(self):
        made = self.lfs("POST", "/locks", {"path": "art/hero.psd", "ref": {"name": "refs/heads/main"}}, self.alice)
        self.assertEqual(made.status, 201, made)
        lock = made.json()["lock"]
        self.assertEqual((lock["path"], lock["owner"]), ("art/hero.psd", {"name": "alice"}))
        self.assertRegex(lock["locked_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        clash = self.assertLfsError(self.lfs("POST", "/locks", {"path": "art/hero.psd"}, self.bob), 409)
        self.assertEqual(clash["lock"], lock)
        self.assertEqual(self.lfs("GET", "/locks", headers=self.bob).json()["locks"], [lock])
        self.assertEqual(self.lfs("GET", "/locks?path=art/hero.psd", headers=self.bob).json()["locks"], [lock])
        self.assertEqual(self.lfs("GET", "/locks?path=other", headers=self.bob).json()["locks"], [])
        self.assertEqual(self.lfs("GET", "/locks?id=" + lock["id"], headers=self.bob).json()["locks"], [lock])
        mine = self.lfs("POST", "/locks/verify", {"ref": {"name": "refs/heads/main"}}, self.alice).json()
        self.assertEqual((mine["ours"], mine["theirs"]), ([lock], []))
        theirs = self.lfs("POST", "/locks/verify", {}, self.bob).json()
        self.assertEqual((theirs["ours"], theirs["theirs"]), ([], [lock]))
        unlock = "/locks/%s/unlock" % lock["id"]
        self.assertLfsError(self.lfs("POST", unlock, {}, self.bob), 403)
        self.assertLfsError(self.lfs("POST", unlock, {"force": True}, self.bob), 403)  # no delete scope
        self.assertEqual(self.lfs("POST", unlock, {"force": True}, self.admin).json()["lock"], lock)
        self.assertLfsError(self.lfs("POST", unlock, {}, self.alice), 404)
        self.assertEqual(self.lfs("GET", "/locks", headers=self.bob).json()["locks"], [])

    def test_pages_of_locks(self):
        for number in range(7):
            self.assertEqual(self.lfs("POST", "/locks", {"path": "f%d" % number}, self.alice).status, 201)
        seen, cursor = [], ""
        for _ in range(10):
            page = self.lfs("GET", "/locks?limit=3" + ("&cursor=" + cursor if cursor else ""), headers=self.bob).json()
            seen += [lock["path"] for lock in page["locks"]]
            cursor = page.get("next_cursor", "")
            if not cursor:
                break
        self.assertEqual(sorted(seen), ["f%d" % number for number in range(7)])

    def test_one_file_one_lock_however_its_path_is_spelled(self):
        """As git names a file: Unicode in NFC, '/' between names, no empty or
        '.' names (each spelling was a lock of its own)."""
        for first, others in (("caf\u00e9.psd", ["cafe\u0301.psd"]),
                              ("art/x.psd", ["art//x.psd", "./art/x.psd", "art\\x.psd", "art/./x.psd"])):
            with self.subTest(first=first):
                made = self.lfs("POST", "/locks", {"path": first}, self.alice)
                self.assertEqual(made.status, 201, made)
                for other in others:
                    self.assertLfsError(self.lfs("POST", "/locks", {"path": other}, self.bob), 409)
                    listed = self.lfs("GET", "/locks?path=" + quote(other), headers=self.bob).json()["locks"]
                    self.assertEqual(listed, [made.json()["lock"]])
        self.assertEqual(len(self.lfs("GET", "/locks", headers=self.bob).json()["locks"]), 2)
        self.assertLfsError(self.lfs("POST", "/locks", {"path": "../outside.psd"}, self.alice), 400)
        self.assertLfsError(self.lfs("POST", "/locks", {"path": "/./"}, self.alice), 400)

    def test_paths_with_unusual_spaces_and_format_characters_are_locked(self):
        for path in ("art/no\u00a0break.psd", "art/evil\u202egnp.exe", "art/zero\u200bwidth.psd"):
            with self.subTest(path=ascii(path)):
                made = self.lfs("POST", "/locks", {"path": path}, self.alice)
                self.assertEqual(made.status, 201, made)
                self.assertEqual(made.json()["lock"]["path"], path)
                self.assertLfsError(self.lfs("POST", "/locks", {"path": path}, self.bob), 409)
        for refused in ("a\u0000b", "a\u007fb", "a\u0085b"):
            self.assertLfsError(self.lfs("POST", "/locks", {"path": refused}, self.alice), 400)

    def test_bad_lock_requests(self):
        self.assertLfsError(self.lfs("POST", "/locks", {"path": ""}, self.alice), 400)
        self.assertLfsError(self.lfs("POST", "/locks", {"path": "a\nb"}, self.alice), 400)
        self.assertLfsError(self.lfs("POST", "/locks", {"path": "x"}), 401)
        self.assertLfsError(self.lfs("POST", "/locks/%s/unlock" % ("0" * 48), {}, self.alice), 404)
        self.assertLfsError(self.lfs("GET", "/locks?limit=0", headers=self.alice), 400)
        # An unknown query parameter is refused by the router, as on every route (JSON git-lfs reads too).
        self.assertError(self.lfs("GET", "/locks?colour=red", headers=self.alice), 400, "bad_request")

    def test_concurrent_creates_of_one_path_give_exactly_one_lock(self):
        statuses, errors = [], []
        start = threading.Barrier(12)

        def take(who: dict) -> None:
            try:
                start.wait(10)
                statuses.append(self.lfs("POST", "/locks", {"path": "contested.bin"}, who).status)
            except Exception as error:  # reported below
                errors.append(error)

        threads = [threading.Thread(target=take, args=(self.alice if i % 2 else self.bob,)) for i in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
            self.assertFalse(thread.is_alive())
        self.assertEqual(errors, [])
        self.assertEqual(sorted(statuses), [201] + [409] * 11)
