"""The XML a client sends (DeleteObjects, CompleteMultipartUpload,
CreateBucket) is read as UTF-8 with no document type declaration and no
entity, in whatever encoding one is spelled: a billion-laughs document is
refused before anything expands, and its answer is small. And the XML
the daemon writes carries a key's carriage return as one."""

from __future__ import annotations

import base64
import hashlib
import xml.etree.ElementTree as ElementTree

from ..s3api_support import S3ApiCase

LAUGHS = ('<?xml version="1.0" encoding="%s"?>\n'
          '<!DOCTYPE Delete [<!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">'
          '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
          '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
          '<Delete>%s</Delete>')


class RequestXmlTests(S3ApiCase):
    def setUp(self) -> None:
        super().setUp()
        self.pair = self.key_pair()
        self.assertEqual(self.s3("PUT", "/box", key_pair=self.pair).status, 200)
        self.assertEqual(self.s3("PUT", "/box/k", b"kept", key_pair=self.pair).status, 200)

    def delete_many(self, body: bytes):
        return self.s3("POST", "/box", body, query={"delete": ""}, key_pair=self.pair,
                       headers={"Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode()})

    def test_entities_are_refused_in_every_encoding(self):
        objects = "<Object><Key>&c;</Key></Object>" * 50
        for encoding, codec in (("UTF-16", "utf-16"), ("UTF-16BE", "utf-16-be"), ("UTF-16LE", "utf-16-le"),
                                ("UTF-8", "utf-8")):
            with self.subTest(encoding=encoding):
                reply = self.delete_many((LAUGHS % (encoding, objects)).encode(codec))
                self.assertS3Error(reply, 400, "MalformedXML")
                self.assertLess(len(reply.body), 4096)
        self.assertEqual(self.s3("GET", "/box/k", key_pair=self.pair).body, b"kept")

    def test_other_encodings_are_refused_and_utf8_is_read(self):
        body = '<?xml version="1.0" encoding="ISO-8859-1"?><Delete><Object><Key>k</Key></Object></Delete>'
        self.assertS3Error(self.delete_many(body.encode("latin-1")), 400, "MalformedXML")
        body = ('<?xml version="1.0" encoding="UTF-8"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                '<Object><Key>k</Key></Object></Delete>')
        reply = self.delete_many(body.encode())
        self.assertEqual(reply.status, 200, reply)
        self.assertIn(b"<Deleted><Key>k</Key>", reply.body)
        self.assertEqual(self.s3("GET", "/box/k", key_pair=self.pair).status, 404)


class KeyXmlTests(S3ApiCase):
    """S3's advice: a key's carriage return is written ``&#13;`` (an XML
    parser reads a bare one as a line feed); a character XML 1.0 cannot
    carry is written as a reference, as S3 writes it (a client that lists
    such keys asks for ``encoding-type=url``)."""

    def test_a_listing_gives_a_key_with_a_carriage_return_back_as_it_is(self):
        pair = self.key_pair()
        self.assertEqual(self.s3("PUT", "/box", key_pair=pair).status, 200)
        for key in ("cr\rkey", "crlf\r\nkey", "ctl\x01key"):
            self.assertEqual(self.s3("PUT", "/box/" + key, b"x", key_pair=pair).status, 200)
        listed = self.s3("GET", "/box", query={"list-type": "2", "prefix": "cr"}, key_pair=pair)
        self.assertEqual(listed.status, 200, listed)
        keys = [element.text for element in ElementTree.fromstring(listed.body).iter()
                if element.tag.endswith("}Key")]
        self.assertEqual(keys, ["cr\rkey", "crlf\r\nkey"])
        listed = self.s3("GET", "/box", query={"list-type": "2", "prefix": "ctl"}, key_pair=pair)
        self.assertIn(b"<Key>ctl&#1;key</Key>", listed.body)
        missing = self.s3("GET", "/box/cr\rgone", key_pair=pair)
        self.assertIn(b"<Resource>/box/cr&#13;gone</Resource>", missing.body)
        ElementTree.fromstring(missing.body)
