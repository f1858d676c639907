"""The streaming multipart/form-data parser."""

from __future__ import annotations

import io
import unittest

from filestoraged.errors import BadRequest
from filestoraged.wire.multipart import MultipartReader, boundary_of, parse_header_value


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
