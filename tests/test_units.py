"""Small pure pieces: configuration precedence, the multipart parser, ranges."""

from __future__ import annotations

import io
import os
import tempfile
import unittest
from unittest import mock

from filestoraged import config
from filestoraged.web.ranges import parse_range
from filestoraged.errors import BadRequest, RangeNotSatisfiable
from filestoraged.web.multipart import MultipartReader, boundary_of, parse_header_value


class ConfigTests(unittest.TestCase):
    def test_flags_then_environment_then_file_then_defaults(self):
        with tempfile.NamedTemporaryFile("w", suffix=".ini", delete=False) as ini:
            ini.write("[filestoraged]\nport = 9000\nhost = 0.0.0.0\ndata-dir = /srv/files\nmax_size = 10M\n")
        self.addCleanup(os.unlink, ini.name)
        env = {"FILESTORAGED_HOST": "10.0.0.1", "FILESTORAGED_KV_AT_ROOT": "yes"}
        loaded = config.load(["--config", ini.name, "--port", "7000"], env)
        self.assertEqual(loaded.port, 7000)  # flag
        self.assertEqual(loaded.host, "10.0.0.1")  # environment over file
        self.assertEqual(loaded.data_dir, "/srv/files")  # file
        self.assertEqual(loaded.max_size, 10 * 1024 * 1024)
        self.assertTrue(loaded.kv_at_root)
        self.assertEqual(loaded.backend, "disk")  # default
        self.assertEqual(config.load([], {}).max_size, 52428800)

    def test_bad_values_are_refused(self):
        for argv, env in ((["--backend", "tape"], {}), ([], {"FILESTORAGED_PORT": "eighty"}),
                          (["--max-size", "lots"], {})):
            with self.assertRaises(SystemExit):
                with mock.patch("sys.stderr", io.StringIO()):
                    config.load(argv, env)

    def test_memcached_server_list(self):
        loaded = config.load(["--memcached", "a:11211, b:11212"], {})
        self.assertEqual(loaded.memcached_servers, ["a:11211", "b:11212"])


class MultipartTests(unittest.TestCase):
    class Trickle(io.BytesIO):
        """Hands out a few bytes per read so boundaries fall across reads."""

        def readinto(self, buffer):
            return super().readinto(buffer[:7])

    def parse(self, body: bytes, boundary: str = "b0undary"):
        parts = []
        for part in MultipartReader(self.Trickle(body), boundary).parts():
            data = bytearray()
            chunk = memoryview(bytearray(100))
            while True:
                count = part.readinto(chunk)
                if not count:
                    break
                data += chunk[:count]
            parts.append((part.name, part.filename, part.content_type, bytes(data)))
        return parts

    def test_parts_with_boundary_lookalikes_inside(self):
        body = (b"preamble\r\n--b0undary\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue\r\n"
                b"--b0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.bin\"\r\n"
                b"Content-Type: image/png\r\n\r\n\r\n--b0und\r\n--b0undar\r\n--b0undary--\r\n")
        self.assertEqual(self.parse(body), [
            ("a", None, None, b"value"),
            ("file", "x.bin", "image/png", b"\r\n--b0und\r\n--b0undar"),
        ])

    def test_an_empty_part_and_a_truncated_body(self):
        body = b"--b0undary\r\nContent-Disposition: form-data; name=\"e\"\r\n\r\n\r\n--b0undary--"
        self.assertEqual(self.parse(body), [("e", None, None, b"")])
        with self.assertRaises(BadRequest):
            self.parse(b"--b0undary\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nno end")

    def test_header_values(self):
        self.assertEqual(boundary_of('multipart/form-data; boundary="a b"'), "a b")
        self.assertIsNone(boundary_of("application/json"))
        with self.assertRaises(BadRequest):
            boundary_of("multipart/form-data")
        _, params = parse_header_value("form-data; name=\"f\"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf")
        self.assertEqual(params["filename"], "résumé.pdf")
        _, params = parse_header_value('form-data; name="f"; filename="a \\"quoted\\" name"')
        self.assertEqual(params["filename"], 'a "quoted" name')


class RangeTests(unittest.TestCase):
    def test_parse_range(self):
        self.assertEqual(parse_range("bytes=0-99", 1000), (0, 100))
        self.assertEqual(parse_range("bytes=900-", 1000), (900, 1000))
        self.assertEqual(parse_range("bytes=-100", 1000), (900, 1000))
        self.assertEqual(parse_range("bytes=-5000", 1000), (0, 1000))
        self.assertIsNone(parse_range("bytes=5-1", 1000))
        self.assertIsNone(parse_range("items=0-1", 1000))
        with self.assertRaises(RangeNotSatisfiable):
            parse_range("bytes=1000-", 1000)
        with self.assertRaises(RangeNotSatisfiable):
            parse_range("bytes=-0", 1000)

