"""``/uploads`` where every daemon shares what is unfinished (``--records
s3``: ``tus.shared``): the protocol's steps by hand over the records and
the store, two daemons' stores taking turns on one upload, a writer's
hold and its lapse. (Three real daemons behind a balancer:
test_balanced_cluster.)"""

from __future__ import annotations

import time
from unittest import mock

from filestoraged.catalog.parts import Parts
from filestoraged.deployment.local import OneMachine
from filestoraged.storage.names import Namespace
from filestoraged.tus import shared
from filestoraged.tus.shared import SharedUploads

from ..support import MIB, BytesSource, payload, sha256
from .test_resumable import TUS, TusAdmissionTests, TusCase


class SharedTusCase(TusCase):
    """A server whose deployment shares unfinished uploads (the records
    here are SQLite's: the store's code is the same over the bucket's)."""

    def setUp(self) -> None:
        patched = mock.patch.object(OneMachine, "shared", True)
        patched.start()
        self.addCleanup(patched.stop)
        super().setUp()
        self.assertIsInstance(self.app.uploads, SharedUploads)

    def parts_left(self, url: str) -> list:
        upload_id = url.rsplit("/", 1)[1]
        return list(self.app.backend.list(Namespace("parts/" + upload_id))) + list(
            self.app.records.keys("parts/" + upload_id + "/"))


class SharedTusTests(SharedTusCase):
    def test_an_upload_in_pieces_with_a_cut_resumes_and_answers_as_files_would(self):
        data = payload(3 * MIB + 17, seed=1)
        url = self.new_upload(len(data), filetype="text/plain")
        self.assertEqual(self.offset(url), 0)
        first = self.patch(url, 0, data[:MIB])
        self.assertEqual((first.status, first.headers["Upload-Offset"]), (204, str(MIB)))
        self.cut_patch(url, MIB, data[MIB:], 700_000)
        kept = self.offset(url)
        self.assertEqual(kept, MIB + 700_000)  # what arrived before the cut is kept, as a part
        self.assertError(self.patch(url, MIB, data[MIB:]), 409, "conflict")
        self.assertError(self.request("GET", url), 409, "conflict")
        last = self.patch(url, kept, data[kept:])
        self.assertEqual((last.status, last.headers["Upload-Offset"]), (204, str(len(data))))
        oid = sha256(data)
        self.assertEqual(self.request("GET", url).json(), {
            "hash": oid, "size": len(data), "created": True, "url": "http://127.0.0.1:%d/files/%s" % (self.port, oid)})
        stored = self.request("GET", "/files/" + oid)
        self.assertEqual((stored.body, stored.headers["Content-Type"]), (data, "text/plain"))
        self.assertEqual(self.parts_left(url), [])  # the object has the bytes: the parts are gone
        self.assertEqual(self.patch(url, len(data), b"").status, 204)  # the last PATCH again
        self.assertError(self.patch(url, len(data), b"more"), 409, "conflict")

    def test_two_daemons_take_turns(self):
        """Another daemon's store over the same records and backend takes
        the next PATCH, and finishes the upload."""
        other = SharedUploads(self.app.records, Parts(self.app.records, self.app.backend), self.data_dir)
        data = payload(2 * MIB + 5, seed=3)
        url = self.new_upload(len(data), target="data/photos")
        self.assertEqual(self.patch(url, 0, data[:MIB]).status, 204)
        upload = other.get(url.rsplit("/", 1)[1])
        self.assertEqual(other.offset(upload), MIB)
        with other.writing(upload) as writer:
            self.assertEqual(writer.kept, MIB)
            self.assertEqual(writer.append(BytesSource(data[MIB:2 * MIB]), MIB), MIB)
        self.assertEqual(self.offset(url), 2 * MIB)
        last = self.patch(url, 2 * MIB, data[2 * MIB:])
        self.assertEqual(last.headers["Upload-Offset"], str(len(data)))
        self.assertEqual(self.request("GET", url).json()["oid"], sha256(data))
        self.assertEqual(self.request("GET", "/data/photos/" + sha256(data)).body, data)

    def test_a_writer_elsewhere_holds_the_upload_and_its_hold_lapses(self):
        url = self.new_upload(10)
        upload_id = url.rsplit("/", 1)[1]
        records = self.app.records
        key = shared.UPLOADS + upload_id

        def held_for(seconds: float) -> None:
            records.update(key, lambda value: dict(value, writer="elsewhere", until=records.now() + seconds))

        held_for(60)
        with mock.patch.object(shared, "SETTLE", 0.2):
            self.assertError(self.patch(url, 0, b"12345"), 423, "locked")
        self.assertEqual(self.offset(url), 0)
        held_for(0.3)  # a daemon that died holding it: its hold lapses, and the PATCH goes on
        started = time.monotonic()
        self.assertEqual(self.patch(url, 0, b"12345").status, 204)
        self.assertLess(time.monotonic() - started, shared.SETTLE)
        self.assertEqual(records.get(key).value["writer"], None)  # given back

    def test_a_chunked_patch_longer_than_the_upload_is_refused_whole(self):
        url = self.new_upload(10)
        reply = self.request("PATCH", url, iter([b"12345", b"67890", b"more"]), dict(TUS, **{
            "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream", "Transfer-Encoding": "chunked"}))
        self.assertError(reply, 413, "too_large")
        self.assertEqual(self.offset(url), 0)
        self.assertEqual(self.parts_left(url), [])

    def test_requests_that_read_the_upload_before_another_daemon_stored_it(self):
        """A retried last PATCH, a GET of the result and a HEAD whose upload
        was read before another daemon finished it: each answers as it
        would a moment later."""
        url = self.new_upload(10)
        upload_id = url.rsplit("/", 1)[1]
        self.assertEqual(self.patch(url, 0, b"12345").status, 204)
        stale = self.app.uploads.get(upload_id)
        self.assertEqual(self.patch(url, 5, b"67890").status, 204)  # the object is stored
        with mock.patch.object(SharedUploads, "get", lambda store, upload_id: stale):
            retried = self.patch(url, 10, b"")
            result = self.request("GET", url)
            head = self.request("HEAD", url, headers=TUS)
        self.assertEqual((retried.status, retried.headers["Upload-Offset"]), (204, "10"))
        self.assertEqual(result.json()["hash"], sha256(b"1234567890"))
        self.assertEqual(head.headers["Upload-Offset"], "10")

    def test_termination_and_expiry_remove_the_parts(self):
        url = self.new_upload(10 * MIB)
        self.patch(url, 0, payload(MIB))
        self.assertNotEqual(self.parts_left(url), [])
        self.assertEqual(self.request("DELETE", url, headers=TUS).status, 204)
        self.assertEqual(self.request("HEAD", url, headers=TUS).status, 404)
        self.assertEqual(self.parts_left(url), [])
        url = self.new_upload(10 * MIB)
        self.patch(url, 0, payload(MIB))
        key = shared.UPLOADS + url.rsplit("/", 1)[1]
        self.app.records.update(key, lambda value: dict(value, touched=value["touched"] - shared.TTL - 1))
        self.assertEqual(self.request("HEAD", url, headers=TUS).status, 410)
        self.assertEqual(self.parts_left(url), [])
        self.assertIsNone(self.app.records.get(key))

    def test_parts_a_stop_kept_after_a_termination_go_at_the_next_start(self):
        """A stop between the upload's record going and its parts' removal
        (or a store that failed then) left them for good, bytes and records."""
        url = self.new_upload(10 * MIB)
        self.patch(url, 0, payload(MIB))
        upload = self.app.uploads.get(url.rsplit("/", 1)[1])
        with mock.patch.object(Parts, "discard", side_effect=RuntimeError("stopped")):  # the stop
            with self.assertRaises(RuntimeError):
                self.app.uploads.remove(upload)  # terminated
        self.assertEqual(self.request("HEAD", url, headers=TUS).status, 404)
        self.assertNotEqual(self.parts_left(url), [])
        self.restart_server()
        self.assertEqual(self.parts_left(url), [])


class SharedTusAdmissionTests(TusAdmissionTests, SharedTusCase):
    """Exactly what fits, and the per-address limit, over every daemon's
    uploads (one record changed with compare-and-swaps)."""

    def test_a_create_reads_no_other_uploads_record(self):
        for _ in range(10):
            self.create(10)
        records = self.app.records
        items = records.items

        def no_uploads(prefix, *args, **kwargs):
            if prefix.startswith(shared.UPLOADS):
                raise AssertionError("the uploads' records were read")
            return items(prefix, *args, **kwargs)

        with mock.patch.object(records, "items", no_uploads), \
                mock.patch.object(self.app.uploads, "_swept", time.time()):  # not the minute's sweep
            self.create(10)

    def test_a_sweep_between_a_create_and_its_count_counts_it_once(self):
        """A create writes its record, then its count; a sweep's recount
        between the two counted the upload, then the create counted it
        again (63 of 64 creates from one address let in)."""
        records, uploads = self.app.records, self.app.uploads
        update = records.update

        def sweep_first(key, change):
            if key == shared.ADMITTED and not sweeping:
                sweeping.append(True)
                uploads.sweep()
            return update(key, change)

        for _ in range(2):  # the count made by the sweep, then one it changes
            sweeping: list = []
            with mock.patch.object(records, "update", sweep_first):
                self.create(10)
        value = records.get(shared.ADMITTED).value
        self.assertEqual((value["pending"], sum(value["owners"].values())), (20, 2))

    def test_ended_uploads_are_no_longer_counted_and_a_sweep_counts_afresh(self):
        first, second = self.new_upload(4), self.new_upload(6)
        self.assertEqual(self.patch(first, 0, b"abcd").status, 204)  # finished
        self.assertEqual(self.request("DELETE", second, headers=TUS).status, 204)
        self.assertEqual(self.app.records.get(shared.ADMITTED).value["pending"], 0)
        self.app.records.update(shared.ADMITTED, lambda value: dict(value, pending=999, owners={"x": 64},
                                                                    changed=0))
        self.app.uploads.sweep()  # as a daemon that died between an upload and its count left it, long ago
        value = self.app.records.get(shared.ADMITTED).value
        self.assertEqual((value["pending"], value["owners"]), (0, {}))
