"""Conditional requests judged by one module for every face: ``/files`` and
``/data`` (the object's id is the tag, its storing the date), S3 keys
(their ETag and write), each rule of RFC 9110 §13 as a client relies on it."""

from __future__ import annotations

import unittest
from email.utils import formatdate

from filestoraged.errors import PreconditionFailed
from filestoraged.wire.conditions import Validators, judge, judge_source, range_applies
from filestoraged.wire.request_head import Headers

from ..support import ServerCase, payload

DAY = 24 * 3600


class RuleTests(unittest.TestCase):
    """The order and the rules, as RFC 9110 §13.2.2 sets them."""

    validators = Validators("abc", 1_700_000_000.0)

    def date(self, offset: float) -> str:
        return formatdate(self.validators.modified + offset, usegmt=True)

    def test_if_match_comes_first_and_hides_if_unmodified_since(self):
        with self.assertRaises(PreconditionFailed):
            judge({"If-Match": '"other"'}, self.validators)
        self.assertFalse(judge({"If-Match": '"abc"', "If-Unmodified-Since": self.date(-DAY)}, self.validators))
        with self.assertRaises(PreconditionFailed):
            judge({"If-Unmodified-Since": self.date(-DAY)}, self.validators)
        self.assertFalse(judge({"If-Unmodified-Since": self.date(0)}, self.validators))

    def test_if_none_match_hides_if_modified_since(self):
        self.assertTrue(judge({"If-None-Match": 'W/"abc"'}, self.validators))
        self.assertFalse(judge({"If-None-Match": '"other"', "If-Modified-Since": self.date(DAY)}, self.validators))
        self.assertTrue(judge({"If-Modified-Since": self.date(DAY)}, self.validators))
        self.assertFalse(judge({"If-Modified-Since": self.date(-1)}, self.validators))
        self.assertFalse(judge({"If-Modified-Since": "not a date"}, self.validators))

    def test_a_request_s_headers_are_judged_alike_whatever_the_case_of_their_names(self):
        def sent(fields):
            headers = Headers()
            for name, value in fields.items():
                headers.add(name.lower(), value)
            return headers
        for fields, expected in (({"If-Match": '"other"'}, PreconditionFailed),
                                 ({"If-Unmodified-Since": self.date(-DAY)}, PreconditionFailed),
                                 ({"If-None-Match": 'W/"abc"'}, True), ({"If-Modified-Since": self.date(DAY)}, True),
                                 ({"If-Modified-Since": self.date(-1)}, False), ({}, False),
                                 ({"Range": "bytes=0-1", "X-If-Match": '"other"'}, False)):
            with self.subTest(fields=fields):
                if expected is PreconditionFailed:
                    with self.assertRaises(PreconditionFailed):
                        judge(sent(fields), self.validators)
                else:
                    self.assertIs(judge(sent(fields), self.validators), expected)
        with self.assertRaises(PreconditionFailed):
            judge_source(sent({"x-amz-copy-source-if-match": '"other"'}), self.validators)
        judge_source(sent({"If-Match": '"other"'}), self.validators)  # a plain condition is not the source's

    def test_a_face_without_a_date_judges_no_date(self):
        undated = Validators("abc")
        self.assertFalse(judge({"If-Unmodified-Since": self.date(-DAY), "If-Modified-Since": self.date(DAY)},
                               undated))
        self.assertFalse(range_applies({"If-Range": self.date(0)}, undated))

    def test_if_range_takes_the_strong_tag_or_the_exact_date(self):
        self.assertTrue(range_applies({}, self.validators))
        self.assertTrue(range_applies({"If-Range": '"abc"'}, self.validators))
        self.assertFalse(range_applies({"If-Range": 'W/"abc"'}, self.validators))
        self.assertFalse(range_applies({"If-Range": '"other"'}, self.validators))
        self.assertTrue(range_applies({"If-Range": self.date(0)}, self.validators))
        self.assertFalse(range_applies({"If-Range": self.date(-DAY)}, self.validators))


class FacesTests(ServerCase):
    def stored(self) -> str:
        reply = self.request("POST", "/files", self.data)
        self.assertEqual(reply.status, 200, reply)
        return reply.json()["hash"]

    def setUp(self) -> None:
        super().setUp()
        self.data = payload(5000, seed=7)

    def test_files_judges_if_match_and_if_unmodified_since(self):
        path = "/files/" + self.stored()
        for _ in range(2):  # the second plain GET is a ready-made answer: conditions still judged after it
            self.assertEqual(self.request("GET", path).status, 200)
        last = self.request("HEAD", path).headers["Last-Modified"]
        self.assertError(self.request("GET", path, headers={"If-Match": '"other"'}), 412, "precondition_failed")
        self.assertEqual(self.request("GET", path, headers={"If-Match": '"%s"' % path[len("/files/"):]}).body,
                         self.data)
        self.assertEqual(self.request("GET", path, headers={"If-Match": "*"}).status, 200)
        self.assertError(self.request("GET", path, headers={"If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}),
                         412, "precondition_failed")
        self.assertEqual(self.request("GET", path, headers={"If-Unmodified-Since": last}).status, 200)

    def test_if_range_by_tag_or_date(self):
        oid = self.stored()
        path = "/files/" + oid
        last = self.request("HEAD", path).headers["Last-Modified"]
        for if_range, status in (('"%s"' % oid, 206), (last, 206), ('W/"%s"' % oid, 200), ('"other"', 200),
                                 ("Mon, 01 Jan 2001 00:00:00 GMT", 200)):
            with self.subTest(if_range=if_range):
                reply = self.request("GET", path, headers={"Range": "bytes=0-9", "If-Range": if_range})
                self.assertEqual(reply.status, status)
                self.assertEqual(reply.body, self.data[:10] if status == 206 else self.data)

    def test_data_judges_if_match(self):
        reply = self.request("PUT", "/data/repo", self.data)
        self.assertEqual(reply.status, 201, reply)
        path = "/data/repo/" + reply.json()["oid"]
        self.assertError(self.request("GET", path, headers={"If-Match": '"other"'}), 412, "precondition_failed")
        self.assertEqual(self.request("HEAD", path, headers={"If-Match": '"other"'}).status, 412)
        self.assertEqual(self.request("GET", path, headers={"If-Match": '"%s"' % path[len("/data/repo/"):]}).body,
                         self.data)


if __name__ == "__main__":
    unittest.main()
