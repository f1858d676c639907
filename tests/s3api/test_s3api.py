"""The S3 API's operations, driven by boto3 as applications drive them:
buckets, objects and their metadata, conditions, ranges, copies, deletes,
listings; and the one store beneath (a key names an object of the bucket's
repository, ``/data/BUCKET/<sha256>`` on the main port)."""

from __future__ import annotations

import hashlib
import os
import time
import unittest
import unittest.mock
from email.utils import formatdate

from ..s3api_support import BotoCase as S3ApiTestCase
from ..support import payload, sha256


class BucketTests(S3ApiTestCase):
    def test_create_list_head_and_delete(self):
        self.admin.create_bucket(Bucket="photos")
        self.admin.create_bucket(Bucket="music", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        self.assertEqual([b["Name"] for b in self.admin.list_buckets()["Buckets"]], ["music", "photos"])
        self.assertEqual(self.admin.head_bucket(Bucket="photos")["ResponseMetadata"]["HTTPStatusCode"], 200)
        self.assertEqual(self.admin.get_bucket_location(Bucket="music")["LocationConstraint"], "eu-west-1")
        self.assertIsNone(self.admin.get_bucket_location(Bucket="photos").get("LocationConstraint"))
        self.admin.delete_bucket(Bucket="music")
        self.assertEqual([b["Name"] for b in self.admin.list_buckets()["Buckets"]], ["photos"])
        self.assertEqual(self.code_of(self.admin.head_bucket, Bucket="music"), "404")

    def test_a_bucket_made_again_by_its_owner_stays_as_it_was(self):
        """As S3 in us-east-1: 200, keys and settings kept; elsewhere, or
        asking for an object lock it lacks, BucketAlreadyOwnedByYou."""
        self.admin.create_bucket(Bucket="photos")
        self.admin.put_object(Bucket="photos", Key="kept", Body=b"x")
        self.admin.put_bucket_versioning(Bucket="photos", VersioningConfiguration={"Status": "Enabled"})
        self.assertEqual(self.admin.create_bucket(Bucket="photos")["ResponseMetadata"]["HTTPStatusCode"], 200)
        self.assertEqual([o["Key"] for o in self.admin.list_objects_v2(Bucket="photos")["Contents"]], ["kept"])
        self.assertEqual(self.admin.get_bucket_versioning(Bucket="photos")["Status"], "Enabled")
        self.assertEqual(self.code_of(self.admin.create_bucket, Bucket="photos",
                                      CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}),
                         "BucketAlreadyOwnedByYou")
        self.assertEqual(self.code_of(self.admin.create_bucket, Bucket="photos", ObjectLockEnabledForBucket=True),
                         "BucketAlreadyOwnedByYou")

    def test_buckets_listed_a_page_at_a_time(self):
        for name in ("a-one", "a-two", "b-three", "a-four"):
            self.admin.create_bucket(Bucket=name)
        first = self.admin.list_buckets(MaxBuckets=2)
        self.assertEqual([b["Name"] for b in first["Buckets"]], ["a-four", "a-one"])
        second = self.admin.list_buckets(MaxBuckets=2, ContinuationToken=first["ContinuationToken"])
        self.assertEqual([b["Name"] for b in second["Buckets"]], ["a-two", "b-three"])
        self.assertNotIn("ContinuationToken", second)
        prefixed = self.admin.list_buckets(Prefix="a-", MaxBuckets=5)
        self.assertEqual([b["Name"] for b in prefixed["Buckets"]], ["a-four", "a-one", "a-two"])
        self.assertEqual((prefixed["Prefix"], "ContinuationToken" in prefixed), ("a-", False))
        self.assertEqual(len(self.admin.list_buckets()["Buckets"]), 4)
        self.admin.create_bucket(Bucket="c-far", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        self.assertEqual([b["Name"] for b in self.admin.list_buckets(BucketRegion="eu-west-1")["Buckets"]], ["c-far"])
        self.assertNotIn("c-far", [b["Name"] for b in self.admin.list_buckets(BucketRegion="us-east-1")["Buckets"]])
        self.assertEqual(self.code_of(self.admin.list_buckets, MaxBuckets=10001), "InvalidArgument")

    def test_what_cannot_be_done_to_a_bucket(self):
        self.admin.create_bucket(Bucket="photos")
        for name in ("No", "UPPER", "a..b", "192.168.1.1", "-dash", "foo-.bar", "foo.-bar"):
            self.assertEqual(self.code_of(self.admin.create_bucket, Bucket=name), "InvalidBucketName", name)
        self.assertEqual(self.code_of(self.admin.put_object, Bucket="nowhere", Key="k", Body=b"x"), "NoSuchBucket")
        self.admin.put_object(Bucket="photos", Key="kept", Body=b"x")
        self.assertEqual(self.code_of(self.admin.delete_bucket, Bucket="photos"), "BucketNotEmpty")
        self.assertEqual(self.code_of(self.admin.delete_bucket, Bucket="nowhere"), "NoSuchBucket")

    def test_an_unversioned_bucket_says_so(self):
        self.admin.create_bucket(Bucket="photos")
        self.admin.put_object(Bucket="photos", Key="a", Body=b"1")
        self.assertNotIn("Status", self.admin.get_bucket_versioning(Bucket="photos"))
        versions = self.admin.list_object_versions(Bucket="photos")["Versions"]
        self.assertEqual([(v["Key"], v["VersionId"], v["IsLatest"]) for v in versions], [("a", "null", True)])
        for acl in (self.admin.get_bucket_acl(Bucket="photos"), self.admin.get_object_acl(Bucket="photos", Key="a")):
            self.assertEqual([grant["Permission"] for grant in acl["Grants"]], ["FULL_CONTROL"])

    def test_what_the_server_does_not_carry_out_is_501_in_xml(self):
        self.admin.create_bucket(Bucket="photos")
        self.assertEqual(self.code_of(self.admin.get_bucket_website, Bucket="photos"), "NotImplemented")
        self.assertEqual(self.code_of(self.admin.put_bucket_logging, Bucket="photos", BucketLoggingStatus={}),
                         "NotImplemented")
        reply = self.s3("GET", "/photos", query={"website": ""}, key_pair=self.key_pair())
        self.assertS3Error(reply, 501, "NotImplemented")
        self.admin.put_object(Bucket="photos", Key="a", Body=b"whole")
        # A subresource not served is never taken for a plain GET of the object.
        self.assertEqual(self.code_of(self.admin.get_object_torrent, Bucket="photos", Key="a"), "NotImplemented")


class ObjectTests(S3ApiTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.admin.create_bucket(Bucket="photos")

    def test_put_then_get_gives_back_bytes_headers_and_metadata(self):
        data = payload(300000, 1)
        made = self.admin.put_object(Bucket="photos", Key="a/b c.bin", Body=data, ContentType="image/png",
                                     Metadata={"mtime": "1700000000.5", "md5chksum": "abc"},
                                     CacheControl="max-age=60", ContentDisposition='attachment; filename="x.png"',
                                     ContentEncoding="identity", ContentLanguage="fr")
        self.assertEqual(made["ETag"], '"%s"' % hashlib.md5(data).hexdigest())  # the MD5, as rclone checks
        got = self.admin.get_object(Bucket="photos", Key="a/b c.bin")
        self.assertEqual(got["Body"].read(), data)
        self.assertEqual((got["ContentType"], got["Metadata"], got["CacheControl"], got["ContentDisposition"],
                          got["ContentEncoding"], got["ContentLanguage"], got["ETag"]),
                         ("image/png", {"mtime": "1700000000.5", "md5chksum": "abc"}, "max-age=60",
                          'attachment; filename="x.png"', "identity", "fr", made["ETag"]))
        head = self.admin.head_object(Bucket="photos", Key="a/b c.bin")
        self.assertEqual((head["ContentLength"], head["ETag"]), (len(data), made["ETag"]))

    def test_a_key_names_an_object_of_the_repository(self):
        data = b"one store for both faces"
        self.admin.put_object(Bucket="photos", Key="first", Body=data)
        self.admin.put_object(Bucket="photos", Key="second", Body=data)
        listed = self.request("GET", "/data/photos", headers={"Authorization": "Bearer " + self.admin_token()})
        self.assertEqual([item["oid"] for item in listed.json()], [sha256(data)])  # stored once
        reply = self.request("GET", "/data/photos/" + sha256(data),
                             headers={"Authorization": "Bearer " + self.admin_token()})
        self.assertEqual((reply.status, reply.body), (200, data))

    def admin_token(self) -> str:
        if not hasattr(self, "_admin_token"):
            self._admin_token = self.app.tokens.create(["admin"])[1]
        return self._admin_token

    def test_ranges_and_conditions(self):
        data = payload(1 << 20, 2)
        etag = self.admin.put_object(Bucket="photos", Key="r", Body=data)["ETag"]
        part = self.admin.get_object(Bucket="photos", Key="r", Range="bytes=1000-1999")
        self.assertEqual((part["Body"].read(), part["ContentRange"]), (data[1000:2000], "bytes 1000-1999/1048576"))
        # The aws cli fetches big objects as ranged GETs with If-Match: <etag>.
        ranged = self.admin.get_object(Bucket="photos", Key="r", Range="bytes=0-9", IfMatch=etag)
        self.assertEqual(ranged["Body"].read(), data[:10])
        self.assertEqual(self.code_of(self.admin.get_object, Bucket="photos", Key="r", IfMatch='"0000"'),
                         "PreconditionFailed")
        self.assertEqual(self.code_of(self.admin.get_object, Bucket="photos", Key="r", IfNoneMatch=etag), "304")
        later = formatdate(time.time() + 3600, usegmt=True)
        earlier = formatdate(time.time() - 3600, usegmt=True)
        self.assertEqual(self.code_of(self.admin.get_object, Bucket="photos", Key="r", IfModifiedSince=later), "304")
        self.assertEqual(self.admin.get_object(Bucket="photos", Key="r", IfModifiedSince=earlier)["ContentLength"],
                         len(data))
        self.assertEqual(self.code_of(self.admin.get_object, Bucket="photos", Key="r", IfUnmodifiedSince=earlier),
                         "PreconditionFailed")
        self.assertEqual(self.code_of(self.admin.get_object, Bucket="photos", Key="r", Range="bytes=2000000-"),
                         "InvalidRange")

    def test_response_overrides_and_checksums_on_request(self):
        data = b"override me"
        self.admin.put_object(Bucket="photos", Key="o", Body=data, ChecksumAlgorithm="SHA256")
        got = self.admin.get_object(Bucket="photos", Key="o", ResponseContentType="text/csv",
                                    ResponseContentDisposition="attachment", ResponseCacheControl="no-cache")
        self.assertEqual((got["ContentType"], got["ContentDisposition"], got["CacheControl"]),
                         ("text/csv", "attachment", "no-cache"))
        got = self.admin.get_object(Bucket="photos", Key="o", ChecksumMode="ENABLED")
        import base64

        self.assertEqual(got["ChecksumSHA256"], base64.b64encode(hashlib.sha256(data).digest()).decode())

    def test_conditional_puts_create_if_absent(self):
        self.admin.put_object(Bucket="photos", Key="once", Body=b"first", IfNoneMatch="*")
        self.assertEqual(self.code_of(self.admin.put_object, Bucket="photos", Key="once", Body=b"second",
                                      IfNoneMatch="*"), "PreconditionFailed")
        etag = self.admin.head_object(Bucket="photos", Key="once")["ETag"]
        self.assertEqual(self.code_of(self.admin.put_object, Bucket="photos", Key="once", Body=b"third",
                                      IfMatch='"0000"'), "PreconditionFailed")
        self.admin.put_object(Bucket="photos", Key="once", Body=b"fourth", IfMatch=etag)
        self.assertEqual(self.admin.get_object(Bucket="photos", Key="once")["Body"].read(), b"fourth")

    def test_conditional_puts_as_s3_and_http_judge_them(self):
        """If-Match on a key that names nothing is NoSuchKey, as S3 answers
        (it was 412); If-None-Match with ETags writes unless one is the
        key's (it was refused with NotImplemented); ``*`` matches any."""
        for if_match in ("*", '"0000"'):
            self.assertEqual(self.code_of(self.admin.put_object, Bucket="photos", Key="none", Body=b"x",
                                          IfMatch=if_match), "NoSuchKey")
        etag = self.admin.put_object(Bucket="photos", Key="k", Body=b"first")["ETag"]
        self.assertEqual(self.code_of(self.admin.put_object, Bucket="photos", Key="k", Body=b"second",
                                      IfNoneMatch=etag), "PreconditionFailed")
        self.admin.put_object(Bucket="photos", Key="k", Body=b"third", IfNoneMatch='"0000"')
        self.admin.put_object(Bucket="photos", Key="k", Body=b"fourth", IfMatch="*")
        self.assertEqual(self.admin.get_object(Bucket="photos", Key="k")["Body"].read(), b"fourth")
        self.admin.put_object(Bucket="photos", Key="new", Body=b"new", IfNoneMatch=etag)  # names nothing: written

    def test_delete_and_delete_many(self):
        for key in ("a", "b", "c", "d"):
            self.admin.put_object(Bucket="photos", Key=key, Body=key.encode())
        self.admin.delete_object(Bucket="photos", Key="a")
        self.admin.delete_object(Bucket="photos", Key="never")  # as S3: nothing to say
        answer = self.admin.delete_objects(Bucket="photos", Delete={"Objects": [{"Key": "b"}, {"Key": "zz"}]})
        self.assertEqual(sorted(d["Key"] for d in answer["Deleted"]), ["b", "zz"])
        answer = self.admin.delete_objects(Bucket="photos", Delete={"Objects": [{"Key": "c"}], "Quiet": True})
        self.assertNotIn("Deleted", answer)
        self.assertEqual([o["Key"] for o in self.admin.list_objects_v2(Bucket="photos")["Contents"]], ["d"])
        body = (b'<Delete>' + b"".join(b"<Object><Key>k%d</Key></Object>" % n for n in range(1001)) + b"</Delete>")
        reply = self.s3("POST", "/photos", body, query={"delete": ""}, key_pair=self.key_pair())
        self.assertS3Error(reply, 400, "MalformedXML")

    def test_copy_is_a_new_name_for_the_same_object(self):
        data = payload(200000, 3)
        self.admin.put_object(Bucket="photos", Key="orig", Body=data, Metadata={"a": "1"}, ContentType="text/plain")
        self.admin.copy_object(Bucket="photos", Key="copy", CopySource={"Bucket": "photos", "Key": "orig"})
        got = self.admin.get_object(Bucket="photos", Key="copy")
        self.assertEqual((got["Body"].read(), got["Metadata"], got["ContentType"]), (data, {"a": "1"}, "text/plain"))
        self.admin.copy_object(Bucket="photos", Key="copy", CopySource="photos/orig", MetadataDirective="REPLACE",
                               Metadata={"b": "2"}, ContentType="text/csv")
        got = self.admin.head_object(Bucket="photos", Key="copy")
        self.assertEqual((got["Metadata"], got["ContentType"]), ({"b": "2"}, "text/csv"))
        self.assertEqual(self.code_of(self.admin.copy_object, Bucket="photos", Key="orig", CopySource="photos/orig"),
                         "InvalidRequest")
        self.admin.create_bucket(Bucket="music")
        self.admin.copy_object(Bucket="music", Key="across", CopySource="photos/orig")
        self.assertEqual(self.admin.get_object(Bucket="music", Key="across")["Body"].read(), data)
        self.admin.delete_object(Bucket="photos", Key="orig")
        self.assertEqual(self.admin.get_object(Bucket="photos", Key="copy")["Body"].read(), data)

    def test_keys_of_every_kind(self):
        keys = ["a/../b", "unicodé ✓/ключ", "a//b", "trailing/", "x" * 1024, "sp ace+plus%percent"]
        for key in keys:
            self.admin.put_object(Bucket="photos", Key=key, Body=key.encode())
        for key in keys:
            self.assertEqual(self.admin.get_object(Bucket="photos", Key=key)["Body"].read(), key.encode(), key)
        listed = [o["Key"] for o in self.admin.list_objects_v2(Bucket="photos")["Contents"]]
        self.assertEqual(listed, sorted(keys, key=lambda k: k.encode()))
        self.assertEqual(self.code_of(self.admin.put_object, Bucket="photos", Key="y" * 1025, Body=b"x"),
                         "KeyTooLongError")
        reply = self.s3("PUT", "/photos/nul\x00byte", b"x", key_pair=self.key_pair())
        self.assertEqual(reply.status, 400)


class ListingTests(S3ApiTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.admin.create_bucket(Bucket="tree")
        self.keys = ["a.txt", "dir/1", "dir/2", "dir/sub/3", "dis", "e/x", "f"]
        for key in self.keys:
            self.admin.put_object(Bucket="tree", Key=key, Body=key.encode())

    def walk(self, **kwargs):
        """Every page of a ListObjectsV2, by its continuation tokens."""
        items, token = [], None
        while True:
            page = self.admin.list_objects_v2(Bucket="tree", **kwargs, **({"ContinuationToken": token} if token
                                                                             else {}))
            items += [o["Key"] for o in page.get("Contents", [])] + [p["Prefix"] for p in
                                                                     page.get("CommonPrefixes", [])]
            if not page["IsTruncated"]:
                return items
            token = page["NextContinuationToken"]

    def test_prefix_delimiter_and_pages(self):
        top = self.admin.list_objects_v2(Bucket="tree", Delimiter="/")
        self.assertEqual([o["Key"] for o in top["Contents"]], ["a.txt", "dis", "f"])
        self.assertEqual([p["Prefix"] for p in top["CommonPrefixes"]], ["dir/", "e/"])
        inside = self.admin.list_objects_v2(Bucket="tree", Prefix="dir/", Delimiter="/")
        self.assertEqual(([o["Key"] for o in inside["Contents"]], [p["Prefix"] for p in inside["CommonPrefixes"]]),
                         (["dir/1", "dir/2"], ["dir/sub/"]))
        for size in (1, 2, 3):
            self.assertEqual(sorted(self.walk(MaxKeys=size)), self.keys)
            self.assertEqual(sorted(self.walk(MaxKeys=size, Delimiter="/")),
                             sorted(["a.txt", "dir/", "dis", "e/", "f"]))
        after = self.admin.list_objects_v2(Bucket="tree", StartAfter="dir/2")
        self.assertEqual([o["Key"] for o in after["Contents"]], ["dir/sub/3", "dis", "e/x", "f"])
        self.assertEqual(self.admin.list_objects_v2(Bucket="tree", Prefix="nothing").get("KeyCount"), 0)

    def test_version_one_with_markers(self):
        first = self.admin.list_objects(Bucket="tree", MaxKeys=3)
        self.assertEqual([o["Key"] for o in first["Contents"]], self.keys[:3])
        self.assertTrue(first["IsTruncated"])
        rest = self.admin.list_objects(Bucket="tree", Marker=first["Contents"][-1]["Key"])
        self.assertEqual([o["Key"] for o in rest["Contents"]], self.keys[3:])
        grouped = self.admin.list_objects(Bucket="tree", Delimiter="/", MaxKeys=2)
        self.assertEqual(grouped["NextMarker"], "dir/")

    def test_keys_xml_cannot_carry_come_back_url_encoded(self):
        self.admin.put_object(Bucket="tree", Key="ctrl\x01key", Body=b"x")
        raw = self.s3("GET", "/tree", query={"list-type": "2", "prefix": "ctrl", "encoding-type": "url"},
                      key_pair=self.key_pair())
        self.assertIn(b"<Key>ctrl%01key</Key>", raw.body)
        listed = self.admin.list_objects_v2(Bucket="tree", Prefix="ctrl")  # boto3 asks encoding-type=url itself
        self.assertEqual([o["Key"] for o in listed["Contents"]], ["ctrl\x01key"])

    def test_keys_with_characters_to_encode_or_escape_come_back_as_they_are(self):
        names = ["odd/a&b <c>.txt", "odd/sp ace+plus%", "odd/ünï", "odd/plain-_.~"]
        for name in names:
            self.admin.put_object(Bucket="tree", Key=name, Body=b"x")
        listed = self.admin.list_objects_v2(Bucket="tree", Prefix="odd/")  # encoding-type=url
        self.assertEqual([o["Key"] for o in listed["Contents"]], sorted(names, key=lambda n: n.encode()))
        raw = self.s3("GET", "/tree", query={"list-type": "2", "prefix": "odd/"}, key_pair=self.key_pair())
        self.assertIn(b"<Key>odd/a&amp;b &lt;c&gt;.txt</Key>", raw.body)
        self.assertIn("<Key>odd/ünï</Key>".encode(), raw.body)
        head = self.admin.head_object(Bucket="tree", Key=names[0])
        modified = {o["Key"]: o["LastModified"] for o in listed["Contents"]}
        self.assertEqual(modified[names[0]].replace(microsecond=0), head["LastModified"])

    def test_a_page_reads_only_what_it_returns(self):
        from filestoraged.catalog.names import encode_key

        for number in range(300):  # many more keys than a page (their records alone: no bytes needed)
            self.app.keys.records.create("s3/keys/tree/" + encode_key("z%05d" % number),
                                         {"oid": "0" * 64, "size": 0, "etag": "e", "modified": 0})
        read = self.counted_reads()
        page = self.admin.list_objects_v2(Bucket="tree", MaxKeys=10)
        self.assertEqual(len(page["Contents"]), 10)
        self.assertLessEqual(sum(read), 11)

    def counted_reads(self):
        """Records read by the listings from now on (a list of each read's count)."""
        read = []
        records = self.app.keys.records
        items = records.items

        def counting(prefix, after="", limit=None):
            found = list(items(prefix, after, limit))
            read.append(len(found))
            return iter(found)

        records.items = counting
        self.addCleanup(setattr, records, "items", items)
        return read

    def test_a_page_costs_its_page_whatever_the_prefix(self):
        from filestoraged.catalog.names import encode_key

        for number in range(1500):  # keys that share every character of "ab" but its last bits
            self.app.keys.records.create("s3/keys/tree/" + encode_key("aa%05d" % number),
                                         {"oid": "0" * 64, "size": 0, "etag": "e", "modified": 0})
        self.app.keys.records.create("s3/keys/tree/" + encode_key("ab"),
                                     {"oid": "0" * 64, "size": 0, "etag": "e", "modified": 0})
        read = self.counted_reads()
        for prefix, keys in (("ab", ["ab"]), ("a.", ["a.txt"]), ("aa0149", ["aa01490"]), ("b", [])):
            del read[:]
            page = self.admin.list_objects_v2(Bucket="tree", Prefix=prefix, MaxKeys=1)
            self.assertEqual([o["Key"] for o in page.get("Contents", [])], keys, prefix)
            self.assertLessEqual(sum(read), 3, prefix)

    def test_a_marker_on_a_common_prefix_moves_past_it(self):
        from filestoraged.catalog.names import encode_key

        self.admin.create_bucket(Bucket="edge")
        names = ["a%04d" % n for n in range(999)] + ["b/1", "b/2", "c0", "c1", "c2"]
        for name in names:
            self.app.keys.records.create("s3/keys/edge/" + encode_key(name),
                                         {"oid": "0" * 64, "size": 0, "etag": "e", "modified": 0})
        first = self.admin.list_objects(Bucket="edge", Delimiter="/")
        self.assertEqual(first["NextMarker"], "b/")
        self.assertEqual([p["Prefix"] for p in first["CommonPrefixes"]], ["b/"])
        rest = self.admin.list_objects(Bucket="edge", Delimiter="/", Marker="b/")
        self.assertEqual([o["Key"] for o in rest["Contents"]], ["c0", "c1", "c2"])
        self.assertNotIn("CommonPrefixes", rest)
        seen = []
        for page in self.admin.get_paginator("list_objects").paginate(Bucket="edge", Delimiter="/",
                                                                      PaginationConfig={"PageSize": 2}):
            seen += [o["Key"] for o in page.get("Contents", [])] + [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        self.assertEqual(seen.count("b/"), 1)
        self.assertEqual(len(seen), 999 + 1 + 3)
        versions = self.admin.list_object_versions(Bucket="edge", Delimiter="/", KeyMarker="b/")
        self.assertEqual([v["Key"] for v in versions["Versions"]], ["c0", "c1", "c2"])

    def test_max_keys_zero_answers_no_keys_and_no_more(self):
        pair = self.key_pair()
        for query in ({"list-type": "2", "max-keys": "0"}, {"max-keys": "0"}, {"versions": "", "max-keys": "0"}):
            reply = self.s3("GET", "/tree", query=query, key_pair=pair)
            self.assertEqual(reply.status, 200, (query, reply))
            self.assertIn(b"<IsTruncated>false</IsTruncated>", reply.body)
            self.assertNotIn(b"<Contents>", reply.body)
            self.assertNotIn(b"<Version>", reply.body)

class BucketRaceTests(S3ApiTestCase):
    MIB = 1024 * 1024

    def test_a_bucket_deleted_while_a_put_is_in_flight_keeps_no_key(self):
        import http.client
        import os

        from filestoraged.wire import sigv4

        from ..s3api_support import REGION
        from ..support import files_being_written, wait_until

        self.admin.create_bucket(Bucket="brief")
        key_id, secret = self.key_pair()
        data = payload(4 * self.MIB, 9)
        headers = sigv4.Signer(key_id, secret, REGION).sign(
            "PUT", "127.0.0.1:%d" % self.s3_port, "/brief/late", {}, {"Content-Length": str(len(data))},
            "UNSIGNED-PAYLOAD")
        conn = http.client.HTTPConnection("127.0.0.1", self.s3_port, timeout=30)
        self.addCleanup(conn.close)
        conn.putrequest("PUT", "/brief/late", skip_host=True, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders(data[:self.MIB])
        tmp = self.app.backend.tmp_dir
        wait_until(lambda: files_being_written(tmp, [os.getpid()]),
                   "the PUT is writing its body (its bucket stood when it began)")
        self.admin.delete_bucket(Bucket="brief")  # no key yet: deleted
        conn.send(data[self.MIB:])
        response = conn.getresponse()
        body = response.read()
        self.assertEqual(response.status, 404, body)
        self.assertIn(b"<Code>NoSuchBucket</Code>", body)
        self.admin.create_bucket(Bucket="brief")
        self.assertEqual(self.code_of(self.admin.head_object, Bucket="brief", Key="late"), "404")
        self.assertEqual(self.admin.list_objects_v2(Bucket="brief")["KeyCount"], 0)

    def test_a_put_that_lands_first_keeps_the_bucket(self):
        self.admin.create_bucket(Bucket="kept")
        self.admin.put_object(Bucket="kept", Key="k", Body=b"x")
        self.assertEqual(self.code_of(self.admin.delete_bucket, Bucket="kept"), "BucketNotEmpty")
        self.admin.put_object(Bucket="kept", Key="k2", Body=b"y")  # open again: writes go on
        self.assertEqual(self.admin.get_object(Bucket="kept", Key="k2")["Body"].read(), b"y")


class RemovalTests(S3ApiTestCase):
    """When bytes go: never while a key or /data holds them; once nothing
    does, after the grace."""

    def make_clock(self):
        from ..support import FakeClock

        self.clock = FakeClock(time.time())
        return self.clock

    def setUp(self) -> None:
        super().setUp()
        self.admin.create_bucket(Bucket="bkt")
        self.token = self.app.tokens.create(["admin"])[1]

    def data(self, method: str, oid: str = ""):
        return self.request(method, "/data/bkt" + ("/" + oid if oid else ""),
                            headers={"Authorization": "Bearer " + self.token})

    def test_a_deleted_key_lets_its_bytes_go_after_the_grace(self):
        from filestoraged.catalog.pins import GRACE

        data = b"only S3 names these"
        self.admin.put_object(Bucket="bkt", Key="k", Body=data)
        self.admin.delete_object(Bucket="bkt", Key="k")
        self.assertEqual(self.app.claims.sweep(60, wait=True), 0)  # within the grace
        self.assertEqual(self.data("GET", sha256(data)).status, 200)
        self.clock.advance(GRACE + 1)
        self.assertEqual(self.app.claims.sweep(60, wait=True), 1)
        self.assertEqual(self.data("GET", sha256(data)).status, 404)

    def test_a_write_lets_go_of_its_pin_with_its_key(self):
        """The upload's pin goes in the key's own commit; a write that
        fails keeps no pin either (its bytes fall idle, to go after the grace)."""
        data = b"pinned, then named"
        self.admin.put_object(Bucket="bkt", Key="k", Body=data)
        self.admin.copy_object(Bucket="bkt", Key="copy", CopySource="bkt/k")
        self.assertFalse(self.app.records.get("s3/blobs/bkt/" + sha256(data)).value.get("pins"))
        refused = b"refused by its condition"
        self.assertEqual(self.code_of(self.admin.put_object, Bucket="bkt", Key="k", Body=refused, IfNoneMatch="*"),
                         "PreconditionFailed")
        blob = self.app.records.get("s3/blobs/bkt/" + sha256(refused)).value
        self.assertEqual((bool(blob.get("pins")), blob.get("idle") is not None), (False, True))

    def test_a_data_delete_never_takes_what_a_key_names(self):
        data = b"named by a key"
        self.admin.put_object(Bucket="bkt", Key="k", Body=data)
        reply = self.data("DELETE", sha256(data))
        self.assertEqual(reply.status, 409, reply)
        self.assertIn("k", reply.json()["message"])
        self.assertEqual(self.admin.get_object(Bucket="bkt", Key="k")["Body"].read(), data)

    def test_a_key_deleted_never_takes_what_data_stored(self):
        from filestoraged.catalog.pins import GRACE

        data = b"stored through /data first"
        self.assertEqual(self.request("PUT", "/data/bkt", data, {"Authorization": "Bearer " + self.token}).status, 201)
        self.admin.put_object(Bucket="bkt", Key="k", Body=data)
        self.admin.delete_object(Bucket="bkt", Key="k")
        self.clock.advance(GRACE + 1)
        self.app.claims.sweep(60, wait=True)
        self.assertEqual(self.data("GET", sha256(data)).status, 200)
        data2 = b"S3 first, then /data"
        self.admin.put_object(Bucket="bkt", Key="k2", Body=data2)
        self.assertEqual(self.request("PUT", "/data/bkt", data2, {"Authorization": "Bearer " + self.token}).status, 201)
        self.admin.delete_object(Bucket="bkt", Key="k2")
        self.clock.advance(GRACE + 1)
        self.app.claims.sweep(60, wait=True)
        self.assertEqual(self.data("GET", sha256(data2)).status, 200)
        self.assertEqual(self.data("DELETE", sha256(data2)).status, 200)
        self.assertEqual(self.data("GET", sha256(data2)).status, 404)


class MetricsTests(S3ApiTestCase):
    def test_s3_requests_are_counted_by_operation_and_status(self):
        self.admin.create_bucket(Bucket="met")
        self.admin.put_object(Bucket="met", Key="k", Body=b"x")
        with self.assertRaises(self.ClientError):
            self.admin.get_object(Bucket="met", Key="none")
        token = self.app.tokens.create(["admin"])[1]
        self.metrics_showing('filestoraged_s3_requests_total{operation="PutObject",status="200"} 1',
                             'filestoraged_s3_requests_total{operation="GetObject",status="404"} 1',
                             headers={"Authorization": "Bearer " + token})

    def test_health_says_the_s3_api_is_served(self):
        self.assertTrue(self.request("GET", "/healthz").json()["s3_api"])


class MultipartTests(S3ApiTestCase):
    MIB = 1024 * 1024

    def setUp(self) -> None:
        super().setUp()
        self.admin.create_bucket(Bucket="big")

    def test_upload_file_goes_in_parts_and_comes_back_whole(self):
        import io

        from boto3.s3.transfer import TransferConfig

        data = payload(23 * self.MIB, 4)
        config = TransferConfig(multipart_threshold=8 * self.MIB, multipart_chunksize=8 * self.MIB)
        self.admin.upload_fileobj(io.BytesIO(data), "big", "whole.bin", Config=config)
        head = self.admin.head_object(Bucket="big", Key="whole.bin")
        self.assertTrue(head["ETag"].endswith('-3"'), head["ETag"])  # rclone's downloads need the -N
        self.assertEqual(head["ContentLength"], len(data))
        out = io.BytesIO()
        self.admin.download_fileobj("big", "whole.bin", out, Config=config)
        self.assertEqual(out.getvalue(), data)
        # One store: the whole object is /data's too, named by its SHA-256.
        token = self.app.tokens.create(["admin"])[1]
        reply = self.request("HEAD", "/data/big/" + sha256(data), headers={"Authorization": "Bearer " + token})
        self.assertEqual(reply.status, 200)
        self.assertEqual(self.admin.list_multipart_uploads(Bucket="big").get("Uploads", []), [])

    def test_what_a_completion_refuses(self):
        upload = self.admin.create_multipart_upload(Bucket="big", Key="k")["UploadId"]
        small = self.admin.upload_part(Bucket="big", Key="k", UploadId=upload, PartNumber=1, Body=b"a" * 1000)
        second = self.admin.upload_part(Bucket="big", Key="k", UploadId=upload, PartNumber=2, Body=b"b" * 1000)
        parts = self.admin.list_parts(Bucket="big", Key="k", UploadId=upload)["Parts"]
        self.assertEqual([(p["PartNumber"], p["Size"]) for p in parts], [(1, 1000), (2, 1000)])
        self.assertEqual([u["UploadId"] for u in self.admin.list_multipart_uploads(Bucket="big")["Uploads"]],
                         [upload])

        def complete(*listed):
            return self.code_of(self.admin.complete_multipart_upload, Bucket="big", Key="k", UploadId=upload,
                                MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in listed]})

        self.assertEqual(complete((2, second["ETag"]), (1, small["ETag"])), "InvalidPartOrder")
        self.assertEqual(complete((1, small["ETag"]), (3, second["ETag"])), "InvalidPart")
        self.assertEqual(complete((1, second["ETag"]), (2, second["ETag"])), "InvalidPart")
        self.assertEqual(complete((1, small["ETag"]), (2, second["ETag"])), "EntityTooSmall")
        self.assertEqual(self.code_of(self.admin.head_object, Bucket="big", Key="k"), "404")  # nothing half-visible
        self.admin.abort_multipart_upload(Bucket="big", Key="k", UploadId=upload)
        self.assertEqual(self.code_of(self.admin.list_parts, Bucket="big", Key="k", UploadId=upload), "NoSuchUpload")

    def test_unfinished_uploads_of_a_bucket_are_bounded(self):
        from filestoraged.catalog import unfinished

        with unittest.mock.patch.object(unfinished, "MAX_OPEN", 5):
            uploads = [self.admin.create_multipart_upload(Bucket="big", Key="k%d" % n)["UploadId"] for n in range(5)]
            self.assertEqual(self.code_of(self.admin.create_multipart_upload, Bucket="big", Key="k"),
                             "InvalidRequest")
            self.admin.abort_multipart_upload(Bucket="big", Key="k0", UploadId=uploads[0])
            self.admin.create_multipart_upload(Bucket="big", Key="k")

    def test_a_completion_sent_again_is_answered_as_the_first(self):
        upload = self.admin.create_multipart_upload(Bucket="big", Key="again")["UploadId"]
        etag = self.admin.upload_part(Bucket="big", Key="again", UploadId=upload, PartNumber=1, Body=b"once")["ETag"]
        parts = {"Parts": [{"PartNumber": 1, "ETag": etag}]}
        first = self.admin.complete_multipart_upload(Bucket="big", Key="again", UploadId=upload, MultipartUpload=parts)
        second = self.admin.complete_multipart_upload(Bucket="big", Key="again", UploadId=upload, MultipartUpload=parts)
        self.assertEqual(second["ETag"], first["ETag"])  # was: NoSuchUpload
        self.assertEqual(self.admin.get_object(Bucket="big", Key="again")["Body"].read(), b"once")
        self.assertEqual(self.code_of(self.admin.list_parts, Bucket="big", Key="again", UploadId=upload),
                         "NoSuchUpload")
        self.assertEqual(self.code_of(self.admin.upload_part, Bucket="big", Key="again", UploadId=upload,
                                      PartNumber=2, Body=b"late"), "NoSuchUpload")
        self.assertEqual(self.code_of(self.admin.complete_multipart_upload, Bucket="big", Key="other",
                                      UploadId=upload, MultipartUpload=parts), "NoSuchUpload")
        self.assertNotIn("Uploads", self.admin.list_multipart_uploads(Bucket="big"))

    def test_part_numbers_are_ascii_digits(self):
        upload = self.admin.create_multipart_upload(Bucket="big", Key="k")["UploadId"]
        etag = self.admin.upload_part(Bucket="big", Key="k", UploadId=upload, PartNumber=1, Body=b"a")["ETag"]
        pair = self.key_pair()
        for number in ("\u00b2", "\u0661", "1.0", "", "10001"):
            body = ("<CompleteMultipartUpload><Part><PartNumber>%s</PartNumber><ETag>%s</ETag></Part>"
                    "</CompleteMultipartUpload>" % (number, etag)).encode()
            reply = self.s3("POST", "/big/k", body, query={"uploadId": upload}, key_pair=pair)
            self.assertS3Error(reply, 400, "MalformedXML")

    def test_completions_of_one_upload_at_once(self):
        data = payload(6 * self.MIB, 8)
        for round_ in range(3):
            key = "raced%d" % round_
            upload = self.admin.create_multipart_upload(Bucket="big", Key=key)["UploadId"]
            listed = []
            for number, piece in enumerate((data[:5 * self.MIB], data[5 * self.MIB:]), 1):
                etag = self.admin.upload_part(Bucket="big", Key=key, UploadId=upload, PartNumber=number,
                                              Body=piece)["ETag"]
                listed.append({"PartNumber": number, "ETag": etag})
            body = ("<CompleteMultipartUpload>%s</CompleteMultipartUpload>" % "".join(
                "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>" % (p["PartNumber"], p["ETag"])
                for p in listed)).encode()
            replies = self.at_once(6, "POST", "/big/" + key, body, {"uploadId": upload})
            # Each answered as the first was (S3 answers a completion sent again so).
            self.assertEqual([reply.status for reply in replies], [200] * 6, replies)
            self.assertEqual(len({reply.body.split(b"<ETag>")[1] for reply in replies}), 1)
            got = self.admin.get_object(Bucket="big", Key=key)["Body"].read()
            self.assertEqual(got, data)

    def test_a_completion_that_finds_the_parts_taken_by_another_one(self):
        """Another completion of the same upload ended it between this
        one finding the upload and reading its parts: answered as that one
        was (S3 answers a completion sent again so), not InvalidPart."""
        data = payload(6 * self.MIB, 9)
        upload = self.admin.create_multipart_upload(Bucket="big", Key="overtaken")["UploadId"]
        parts = [{"PartNumber": number, "ETag": self.admin.upload_part(
            Bucket="big", Key="overtaken", UploadId=upload, PartNumber=number, Body=piece)["ETag"]}
            for number, piece in enumerate((data[:5 * self.MIB], data[5 * self.MIB:]), 1)]
        unfinished = self.app.unfinished
        read_parts = unfinished.parts
        overtaken = []

        def another_completion_first(*args, **kwargs):
            if not overtaken:  # the first reader of the parts; the completion sent here reads them as usual
                overtaken.append("sent")
                overtaken.append(self.admin.complete_multipart_upload(
                    Bucket="big", Key="overtaken", UploadId=upload, MultipartUpload={"Parts": parts})["ETag"])
            return read_parts(*args, **kwargs)

        body = ("<CompleteMultipartUpload>%s</CompleteMultipartUpload>" % "".join(
            "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>" % (p["PartNumber"], p["ETag"])
            for p in parts)).encode()
        with unittest.mock.patch.object(unfinished, "parts", another_completion_first):
            reply = self.s3("POST", "/big/overtaken", body, query={"uploadId": upload}, key_pair=self.key_pair())
        self.assertEqual(reply.status, 200, reply.body[:300])
        self.assertEqual(reply.body.split(b"<ETag>")[1].split(b"</ETag>")[0].decode(), overtaken[1])
        self.assertEqual(self.admin.get_object(Bucket="big", Key="overtaken")["Body"].read(), data)

    def test_a_completion_that_finds_its_upload_aborted_meanwhile(self):
        """An abort between this completion finding the upload and reading
        its parts: NoSuchUpload, as S3 answers, not InvalidPart."""
        upload = self.admin.create_multipart_upload(Bucket="big", Key="aborted")["UploadId"]
        etag = self.admin.upload_part(Bucket="big", Key="aborted", UploadId=upload, PartNumber=1,
                                      Body=b"only part")["ETag"]
        unfinished = self.app.unfinished
        read_parts = unfinished.parts

        def aborted_first(*args, **kwargs):
            self.admin.abort_multipart_upload(Bucket="big", Key="aborted", UploadId=upload)
            return read_parts(*args, **kwargs)

        body = b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>%s</ETag></Part>" \
               b"</CompleteMultipartUpload>" % etag.encode()
        with unittest.mock.patch.object(unfinished, "parts", aborted_first):
            reply = self.s3("POST", "/big/aborted", body, query={"uploadId": upload}, key_pair=self.key_pair())
        self.assertEqual(reply.status, 404, reply.body[:300])
        self.assertIn(b"<Code>NoSuchUpload</Code>", reply.body)

    def test_a_part_copied_from_another_object(self):
        source = payload(6 * self.MIB, 5)
        self.admin.put_object(Bucket="big", Key="src", Body=source)
        upload = self.admin.create_multipart_upload(Bucket="big", Key="joined")["UploadId"]
        first = self.admin.upload_part_copy(Bucket="big", Key="joined", UploadId=upload, PartNumber=1,
                                            CopySource="big/src")["CopyPartResult"]["ETag"]
        second = self.admin.upload_part_copy(Bucket="big", Key="joined", UploadId=upload, PartNumber=2,
                                             CopySource="big/src", CopySourceRange="bytes=0-99")
        self.admin.complete_multipart_upload(Bucket="big", Key="joined", UploadId=upload, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": first},
                      {"PartNumber": 2, "ETag": second["CopyPartResult"]["ETag"]}]})
        self.assertEqual(self.admin.get_object(Bucket="big", Key="joined")["Body"].read(), source + source[:100])


    def uploaded_in_parts(self, key: str, data: bytes):
        """An upload of ``data`` in two parts: its id and its parts' list."""
        upload = self.admin.create_multipart_upload(Bucket="big", Key=key)["UploadId"]
        parts = [{"PartNumber": number, "ETag": self.admin.upload_part(
            Bucket="big", Key=key, UploadId=upload, PartNumber=number, Body=piece)["ETag"]}
            for number, piece in enumerate((data[:5 * self.MIB], data[5 * self.MIB:]), 1)]
        return upload, parts

    def parts_left(self, upload: str) -> bool:
        """Whether anything of the upload's parts is stored (on the disk,
        its folder: the parts' file, once the object, stays linked there)."""
        from filestoraged.catalog.parts import parts_namespace

        if self.app.backend.name == "disk":
            return os.path.exists(os.path.join(self.data_dir, "parts", upload))
        return self.app.backend.list(parts_namespace(upload)) != []

    def test_a_completion_whose_parts_the_store_fails_to_remove_is_answered_and_they_go_later(self):
        """The object is made and the upload ended when its parts' removal
        fails (the store does not answer then): answered 200, as it is; the
        parts go with the next look (here: the next start), not never."""
        from filestoraged.catalog.parts import Parts
        from filestoraged.errors import BackendUnavailable

        data = payload(6 * self.MIB, 10)
        upload, parts = self.uploaded_in_parts("kept", data)
        with unittest.mock.patch.object(Parts, "discard", side_effect=BackendUnavailable("the store fails")):
            self.admin.complete_multipart_upload(Bucket="big", Key="kept", UploadId=upload,
                                                 MultipartUpload={"Parts": parts})
        self.assertEqual(self.admin.get_object(Bucket="big", Key="kept")["Body"].read(), data)
        self.assertEqual(self.admin.list_multipart_uploads(Bucket="big").get("Uploads", []), [])
        self.assertTrue(self.parts_left(upload))  # the store failed: still there
        self.restart_server()
        self.assertFalse(self.parts_left(upload))
        self.admin = self.client()
        self.assertEqual(self.admin.get_object(Bucket="big", Key="kept")["Body"].read(), data)

    def test_a_stop_between_an_uploads_end_and_its_parts_removal_is_set_right_by_the_next_start(self):
        upload, _ = self.uploaded_in_parts("stopped", payload(6 * self.MIB, 11))
        from filestoraged.catalog.parts import Parts

        ended = self.app.unfinished.get("big", upload)
        with unittest.mock.patch.object(Parts, "discard", side_effect=RuntimeError("stopped")):  # the stop
            with self.assertRaises(RuntimeError):
                self.app.unfinished.remove(ended)  # aborted
        self.assertTrue(self.parts_left(upload))
        self.restart_server()
        self.assertFalse(self.parts_left(upload))


if __name__ == "__main__":
    unittest.main()
