"""Multipart checksums as S3 makes them, and GetObjectAttributes, driven
by boto3: an upload created with a checksum algorithm says so, takes each
part's, checks what the completion states (of the parts and of the whole)
before anything is kept, and gives the object's back; a checksum that
cannot be checked is refused, never taken."""

from __future__ import annotations

import base64
import hashlib
import os
import unittest
import zlib

from ..s3api_support import BotoCase

MIB = 1024 * 1024


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def crc32(data: bytes) -> bytes:
    return zlib.crc32(data).to_bytes(4, "big")


class ChecksumCase(BotoCase):
    def setUp(self) -> None:
        super().setUp()
        self.admin.create_bucket(Bucket="box")
        self.parts = [os.urandom(5 * MIB), os.urandom(123_457)]
        self.whole = b"".join(self.parts)

    def upload(self, algorithm=None, kind=None, key="k"):
        """``(upload id, [part entries for the completion])`` of the two parts."""
        ask = {}
        if algorithm:
            ask["ChecksumAlgorithm"] = algorithm
        if kind:
            ask["ChecksumType"] = kind
        created = self.admin.create_multipart_upload(Bucket="box", Key=key, **ask)
        listed = []
        for number, data in enumerate(self.parts, 1):
            sent = self.admin.upload_part(Bucket="box", Key=key, UploadId=created["UploadId"], PartNumber=number,
                                          Body=data, **({"ChecksumAlgorithm": algorithm} if algorithm else {}))
            entry = {"PartNumber": number, "ETag": sent["ETag"]}
            if algorithm:
                entry["Checksum" + algorithm] = sent["Checksum" + algorithm]
            listed.append(entry)
        return created, listed

    def complete(self, created, listed, key="k", **ask):
        return self.admin.complete_multipart_upload(Bucket="box", Key=key, UploadId=created["UploadId"],
                                                    MultipartUpload={"Parts": listed}, **ask)

    def assertNoKey(self, key="k"):
        self.assertEqual(self.code_of(self.admin.head_object, Bucket="box", Key=key), "404")


class CompositeTests(ChecksumCase):
    def test_the_algorithm_is_echoed_and_the_objects_checksum_made_of_the_parts(self):
        created, listed = self.upload("CRC32")
        self.assertEqual((created["ChecksumAlgorithm"], created["ChecksumType"]), ("CRC32", "COMPOSITE"))
        self.assertEqual([entry["ChecksumCRC32"] for entry in listed], [b64(crc32(part)) for part in self.parts])
        composite = "%s-2" % b64(crc32(b"".join(crc32(part) for part in self.parts)))
        done = self.complete(created, listed)
        self.assertEqual((done["ChecksumCRC32"], done["ChecksumType"]), (composite, "COMPOSITE"))
        head = self.admin.head_object(Bucket="box", Key="k", ChecksumMode="ENABLED")
        self.assertEqual(head["ChecksumCRC32"], composite)
        self.assertEqual(head["ChecksumSHA256"], b64(hashlib.sha256(self.whole).digest()))
        self.assertEqual(head["ChecksumType"], "COMPOSITE")
        # botocore checks the whole object's SHA-256 as it reads (the composite cannot be checked so)
        got = self.admin.get_object(Bucket="box", Key="k", ChecksumMode="ENABLED")
        self.assertEqual(got["Body"].read(), self.whole)
        for number, data in enumerate(self.parts, 1):  # a part by its number: its own checksum, which botocore checks
            part = self.admin.get_object(Bucket="box", Key="k", PartNumber=number, ChecksumMode="ENABLED")
            self.assertEqual((part["ChecksumCRC32"], part["ChecksumType"]), (b64(crc32(data)), "COMPOSITE"))
            self.assertEqual(part["Body"].read(), data)

    def test_a_sha256_upload_states_a_composite_of_the_parts_sha256s(self):
        created, listed = self.upload("SHA256")
        composite = b64(hashlib.sha256(b"".join(hashlib.sha256(part).digest() for part in self.parts)).digest())
        done = self.complete(created, listed, ChecksumSHA256=composite)
        self.assertEqual(done["ChecksumSHA256"], composite + "-2")

    def test_a_wrong_whole_object_checksum_keeps_nothing_and_the_upload_stays(self):
        created, listed = self.upload("CRC32")
        self.assertEqual(self.code_of(self.complete, created, listed, ChecksumCRC32=b64(b"\0\0\0\0")), "BadDigest")
        self.assertNoKey()
        right = b64(crc32(b"".join(crc32(part) for part in self.parts)))
        self.assertEqual(self.complete(created, listed, ChecksumCRC32=right)["ChecksumCRC32"], right + "-2")

    def test_a_wrong_or_missing_part_checksum_is_refused(self):
        created, listed = self.upload("CRC32")
        wrong = [dict(listed[0], ChecksumCRC32=b64(b"\1\2\3\4")), listed[1]]
        self.assertEqual(self.code_of(self.complete, created, wrong), "InvalidPart")
        missing = [{"PartNumber": 1, "ETag": listed[0]["ETag"]}, listed[1]]
        self.assertEqual(self.code_of(self.complete, created, missing), "InvalidRequest")
        self.assertNoKey()

    def test_a_part_stating_another_algorithm_is_refused(self):
        created = self.admin.create_multipart_upload(Bucket="box", Key="k", ChecksumAlgorithm="CRC32")
        self.assertEqual(self.code_of(self.admin.upload_part, Bucket="box", Key="k", UploadId=created["UploadId"],
                                      PartNumber=1, Body=b"x", ChecksumAlgorithm="SHA1"), "InvalidRequest")

    def test_an_algorithm_not_computed_here_is_refused_at_creation(self):
        for algorithm in ("CRC32C", "CRC64NVME"):
            with self.subTest(algorithm=algorithm):
                self.assertEqual(self.code_of(self.admin.create_multipart_upload, Bucket="box", Key="k",
                                              ChecksumAlgorithm=algorithm), "InvalidRequest")
        self.assertEqual(self.code_of(self.admin.create_multipart_upload, Bucket="box", Key="k",
                                      ChecksumAlgorithm="SHA256", ChecksumType="FULL_OBJECT"), "InvalidRequest")

    def test_a_copied_part_has_its_checksum_too(self):
        self.admin.put_object(Bucket="box", Key="source", Body=self.parts[0])
        created = self.admin.create_multipart_upload(Bucket="box", Key="k", ChecksumAlgorithm="SHA1")
        copied = self.admin.upload_part_copy(Bucket="box", Key="k", UploadId=created["UploadId"], PartNumber=1,
                                             CopySource="box/source")["CopyPartResult"]
        self.assertEqual(copied["ChecksumSHA1"], b64(hashlib.sha1(self.parts[0]).digest()))
        done = self.complete(created, [{"PartNumber": 1, "ETag": copied["ETag"],
                                        "ChecksumSHA1": copied["ChecksumSHA1"]}])
        self.assertEqual(done["ChecksumSHA1"], "%s-1" % b64(hashlib.sha1(hashlib.sha1(self.parts[0]).digest())
                                                             .digest()))


class FullObjectTests(ChecksumCase):
    def test_a_full_object_crc32_is_the_whole_objects_and_is_checked(self):
        created, listed = self.upload("CRC32", "FULL_OBJECT")
        self.assertEqual(created["ChecksumType"], "FULL_OBJECT")
        self.assertEqual(self.code_of(self.complete, created, listed, ChecksumCRC32=b64(crc32(b"other")),
                                      ChecksumType="FULL_OBJECT"), "BadDigest")
        self.assertNoKey()
        done = self.complete(created, listed, ChecksumCRC32=b64(crc32(self.whole)), ChecksumType="FULL_OBJECT")
        self.assertEqual((done["ChecksumCRC32"], done["ChecksumType"]), (b64(crc32(self.whole)), "FULL_OBJECT"))
        got = self.admin.get_object(Bucket="box", Key="k", ChecksumMode="ENABLED")
        self.assertEqual(got["ChecksumCRC32"], b64(crc32(self.whole)))
        self.assertEqual(got["Body"].read(), self.whole)  # botocore checked the CRC-32 as it read

    def test_the_stated_size_is_checked(self):
        created, listed = self.upload("CRC32", "FULL_OBJECT")
        self.assertEqual(self.code_of(self.complete, created, listed, MpuObjectSize=len(self.whole) + 1),
                         "InvalidRequest")
        self.complete(created, listed, MpuObjectSize=len(self.whole))


class WithoutAlgorithmTests(ChecksumCase):
    def test_a_whole_object_sha256_is_checked_against_the_object(self):
        created, listed = self.upload()
        self.assertEqual(self.code_of(self.complete, created, listed,
                                      ChecksumSHA256=b64(hashlib.sha256(b"other").digest())), "BadDigest")
        self.assertNoKey()
        self.complete(created, listed, ChecksumSHA256=b64(hashlib.sha256(self.whole).digest()))
        head = self.admin.head_object(Bucket="box", Key="k", ChecksumMode="ENABLED")
        self.assertEqual((head["ChecksumSHA256"], head["ChecksumType"]),
                         (b64(hashlib.sha256(self.whole).digest()), "FULL_OBJECT"))

    def test_a_checksum_that_cannot_be_checked_is_refused(self):
        created, listed = self.upload()
        for ask in ({"ChecksumCRC64NVME": "AAAAAAAAAAA="}, {"ChecksumCRC32C": "AAAAAA=="},
                    {"ChecksumCRC32": b64(crc32(self.whole))}):
            with self.subTest(ask=ask):
                self.assertEqual(self.code_of(self.complete, created, listed, **ask), "InvalidRequest")
        self.assertNoKey()

    def test_a_default_upload_file_keeps_the_crc32_boto3_sends(self):
        from boto3.s3.transfer import TransferConfig

        path = os.path.join(self.data_dir, "upload.bin")
        with open(path, "wb") as file:
            file.write(self.whole)
        self.admin.upload_file(path, "box", "file", Config=TransferConfig(multipart_threshold=5 * MIB,
                                                                          multipart_chunksize=5 * MIB))
        head = self.admin.head_object(Bucket="box", Key="file", ChecksumMode="ENABLED")
        self.assertEqual(head["PartsCount"], 2)
        self.assertIn("ChecksumCRC32", head)


class ObjectAttributesTests(ChecksumCase):
    def test_attributes_of_a_multipart_object(self):
        created, listed = self.upload("CRC32")
        done = self.complete(created, listed)
        found = self.admin.get_object_attributes(Bucket="box", Key="k", ObjectAttributes=[
            "ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"], MaxParts=1)
        self.assertEqual(found["ETag"], done["ETag"].strip('"'))
        self.assertEqual(found["ObjectSize"], len(self.whole))
        self.assertEqual(found["StorageClass"], "STANDARD")
        self.assertEqual(found["Checksum"]["ChecksumCRC32"], done["ChecksumCRC32"])
        parts = found["ObjectParts"]
        self.assertEqual((parts["TotalPartsCount"], parts["IsTruncated"], parts["NextPartNumberMarker"]),
                         (2, True, 1))
        self.assertEqual(parts["Parts"], [{"PartNumber": 1, "Size": 5 * MIB,
                                           "ChecksumCRC32": b64(crc32(self.parts[0]))}])
        rest = self.admin.get_object_attributes(Bucket="box", Key="k", ObjectAttributes=["ObjectParts"],
                                                PartNumberMarker=1)["ObjectParts"]
        self.assertEqual([(part["PartNumber"], part["Size"]) for part in rest["Parts"]], [(2, len(self.parts[1]))])
        self.assertFalse(rest["IsTruncated"])

    def test_attributes_of_an_object_put_whole(self):
        self.admin.put_object(Bucket="box", Key="small", Body=b"hello")
        found = self.admin.get_object_attributes(Bucket="box", Key="small",
                                                 ObjectAttributes=["ETag", "ObjectSize", "Checksum", "ObjectParts"])
        self.assertEqual((found["ETag"], found["ObjectSize"]), (hashlib.md5(b"hello").hexdigest(), 5))
        self.assertEqual(found["Checksum"]["ChecksumSHA256"], b64(hashlib.sha256(b"hello").digest()))
        self.assertNotIn("ObjectParts", found)
        self.assertEqual(self.code_of(self.admin.get_object_attributes, Bucket="box", Key="absent",
                                      ObjectAttributes=["ETag"]), "NoSuchKey")

    def test_an_unknown_attribute_is_refused(self):
        self.admin.put_object(Bucket="box", Key="small", Body=b"hello")
        reply = self.s3("GET", "/box/small", query={"attributes": ""}, key_pair=self.key_pair(),
                        headers={"x-amz-object-attributes": "ETag,Colour"})
        self.assertS3Error(reply, 400, "InvalidArgument")


class CombineTests(unittest.TestCase):
    def test_combined_crcs_are_zlibs_crc_of_the_whole(self):
        from filestoraged.s3api.checksums import crc32_combine

        for first, second in ((b"", b"x"), (os.urandom(100), os.urandom(5 * MIB + 3)), (b"abc", b"")):
            self.assertEqual(crc32_combine(zlib.crc32(first), zlib.crc32(second), len(second)),
                             zlib.crc32(first + second))


if __name__ == "__main__":
    unittest.main()
