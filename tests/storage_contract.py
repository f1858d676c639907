"""One contract every storage backend must keep; mixed into a TestCase per backend.

Put it first in the bases, before a TestCase that provides
``make_backend(max_size)``, ``corrupt(namespace, oid)`` (damage one stored
object the way that backend can be damaged) and ``assert_nothing_left()``
(no partial upload left in that backend's medium).
"""

from __future__ import annotations

import io

from filestoraged.errors import CorruptObject, NotFound, TooLarge, Unprocessable
from filestoraged.storage.names import DEFAULT, SHARES, repository

from .support import Threads, payload, sha256

LIMIT = 3 * 1024 * 1024 + 123  # a small max_size keeps the limit tests fast


class FailingStream(io.RawIOBase):
    """Gives ``good`` bytes, then fails as a client that hung up would."""

    def __init__(self, good: bytes) -> None:
        self._data = io.BytesIO(good)

    def readinto(self, buffer) -> int:
        count = self._data.readinto(buffer)
        if not count:
            raise ConnectionResetError("client went away")
        return count


class SizedStream(io.BytesIO):
    """A body that says how long it is, as a request with Content-Length
    does (``left``): a backend may stream it on before its end."""

    @property
    def left(self) -> int:
        return len(self.getbuffer()) - self.tell()


class StorageContract:
    backend = None
    sized = False  # give put() streams that tell their length (see SizedStream)

    def setUp(self) -> None:
        super().setUp()
        self.backend = self.make_backend(LIMIT)
        self.addCleanup(self.backend.close)

    def put(self, data: bytes, namespace=DEFAULT, content_type=None):
        return self.backend.put(namespace, (SizedStream if self.sized else io.BytesIO)(data), content_type)

    def read(self, oid: str, namespace=DEFAULT) -> bytes:
        with self.backend.open(namespace, oid) as obj:
            obj.preflight()
            return obj.read_all()

    def test_round_trip_names_object_by_sha256(self):
        data = payload(2 * 1024 * 1024 + 17)
        result = self.put(data, content_type="image/png")
        self.assertEqual(result.info.oid, sha256(data))
        self.assertEqual(result.info.size, len(data))
        self.assertTrue(result.created)
        self.assertEqual(self.read(result.info.oid), data)
        info = self.backend.stat(DEFAULT, result.info.oid)
        self.assertEqual((info.size, info.content_type), (len(data), "image/png"))

    def test_bytes_sent_for_another_id_are_refused_and_nothing_is_kept(self):
        for size in (100, 2 * 1024 * 1024 + 5):  # one block (or inline), and several
            data = payload(size, seed=size)
            stream = (SizedStream if self.sized else io.BytesIO)(data)
            with self.subTest(size=size), self.assertRaises(Unprocessable):
                self.backend.put(DEFAULT, stream, None, expected=sha256(b"the id they were sent for"))
            self.assertEqual(self.backend.list(DEFAULT), [])
            self.assert_nothing_left()
            stream = (SizedStream if self.sized else io.BytesIO)(data)
            self.assertEqual(self.backend.put(DEFAULT, stream, None, expected=sha256(data)).info.oid, sha256(data))
            self.backend.delete(DEFAULT, sha256(data))

    def test_same_bytes_twice_are_stored_once(self):
        first = self.put(b"twice")
        second = self.put(b"twice")
        self.assertTrue(first.created)
        self.assertFalse(second.created)
        self.assertEqual([i.oid for i in self.backend.list(DEFAULT)], [first.info.oid])

    def test_the_look_a_put_offers_says_whether_its_bytes_were_stored(self):
        """What an S3 upload's pin asks before the bytes may be stored (a
        yes taken for a no would have a crash's recovery remove bytes the
        repository holds): exact for bytes of one block and of several,
        whatever form the backend keeps them in; or no look offered."""
        for size in (1000, 2 * 1024 * 1024 + 5):
            with self.subTest(size=size):
                data = payload(size, seed=size)
                seen: list = []
                results = [self.backend.put(DEFAULT, (SizedStream if self.sized else io.BytesIO)(data),
                                            hashed=lambda oid, look, seen=seen: seen.append(look and look()))
                           for _ in range(2)]
                self.assertEqual([result.created for result in results], [True, False])
                self.assertIn(seen, ([False, True], [None, None]))

    def test_empty_object(self):
        result = self.put(b"")
        self.assertEqual(result.info.oid, sha256(b""))
        self.assertEqual(self.read(result.info.oid), b"")

    def test_missing_object_is_not_found_everywhere(self):
        oid = sha256(b"never stored")
        for call in (self.backend.open, self.backend.stat, self.backend.delete):
            with self.assertRaises(NotFound):
                call(DEFAULT, oid)

    def test_delete_removes(self):
        oid = self.put(b"short-lived").info.oid
        self.backend.delete(DEFAULT, oid)
        with self.assertRaises(NotFound):
            self.backend.open(DEFAULT, oid)
        with self.assertRaises(NotFound):
            self.backend.delete(DEFAULT, oid)

    def test_namespaces_are_separate(self):
        oid = self.put(b"shared bytes", namespace=repository("alpha")).info.oid
        self.put(b"shared bytes", namespace=repository("beta"))
        for namespace in (DEFAULT, SHARES, repository("gamma")):
            with self.assertRaises(NotFound):
                self.backend.stat(namespace, oid)
        self.backend.delete(repository("alpha"), oid)
        self.assertEqual(self.read(oid, repository("beta")), b"shared bytes")

    def test_list_is_ordered_and_paginated(self):
        oids = sorted(self.put(b"item %d" % i).info.oid for i in range(7))
        listed = self.backend.list(DEFAULT)
        self.assertEqual([i.oid for i in listed], oids)
        self.assertEqual([i.size for i in listed], [6] * 7)
        self.assertEqual([i.oid for i in self.backend.list(DEFAULT, limit=3)], oids[:3])
        self.assertEqual([i.oid for i in self.backend.list(DEFAULT, after=oids[2], limit=3)], oids[3:6])
        self.assertEqual(self.backend.list(repository("empty")), [])

    def test_exactly_the_limit_is_accepted(self):
        data = payload(LIMIT)
        self.assertEqual(self.put(data).info.size, LIMIT)
        self.assertEqual(self.read(sha256(data)), data)

    def test_one_byte_over_the_limit_leaves_nothing(self):
        with self.assertRaises(TooLarge):
            self.put(payload(LIMIT + 1))
        self.assertEqual(self.backend.list(DEFAULT), [])
        self.assert_nothing_left()

    def test_failed_stream_leaves_nothing(self):
        with self.assertRaises(ConnectionResetError):
            self.backend.put(DEFAULT, FailingStream(payload(1500000)))
        self.assertEqual(self.backend.list(DEFAULT), [])
        self.assert_nothing_left()

    def test_ranges_come_back_exact(self):
        data = payload(LIMIT - 5, seed=3)
        oid = self.put(data).info.oid
        for start, end in ((0, 1), (1000, 1500000), (LIMIT - 100, None), (0, None)):
            with self.backend.open(DEFAULT, oid) as obj:
                self.assertEqual(b"".join(obj.chunks(start, end)), data[start:end])

    def test_concurrent_stores_of_the_same_bytes(self):
        data = payload(1500000, seed=9)
        with Threads() as threads:
            for _ in range(6):
                threads.start(self.put, data)
        results = threads.results
        self.assertEqual(len({r.info.oid for r in results}), 1)
        self.assertEqual(sum(r.created for r in results), 1)  # exactly one stored them
        self.assertEqual(self.read(sha256(data)), data)

    def test_corruption_is_detected(self):
        for size in (1000, LIMIT - 1):
            data = payload(size, seed=size)
            oid = self.put(data).info.oid
            self.corrupt(DEFAULT, oid)
            with self.assertRaises(CorruptObject):
                self.read(oid)

