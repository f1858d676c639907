"""S3 versioning against a model, through boto3: a few hundred PutObject,
multipart uploads, CopyObject, DeleteObject (with and without a version
id), GetObject (latest and by version) and versioning turned on and
suspended, drawn at random (fixed seeds, so a failure repeats). The model
keeps each key's versions, oldest first, with S3's rules for the ``null``
version while versioning is suspended; every answer, and now and then the
whole ListObjectVersions and ListObjectsV2, is checked against it."""

from __future__ import annotations

import os
import random
from typing import Dict, List, Optional, Tuple

from ..s3api_support import BotoCase

KEYS = ("a", "b", "d/c", "d/e/f")
BUCKET = "model"
MIB = 1024 * 1024

Version = Tuple[str, Optional[bytes]]  # (version id, bytes; None: a delete marker)


class VersionsModelTests(BotoCase):
    def test_random_operations_agree_with_the_model(self):
        s3 = self.admin
        s3.create_bucket(Bucket=BUCKET)
        for seed in (1, 2):
            with self.subTest(seed=seed):
                self.run_against_model(random.Random(seed), {key: [] for key in KEYS})
                for key in KEYS:  # the next seed starts from no version at all
                    for kind in ("Versions", "DeleteMarkers"):
                        for item in s3.list_object_versions(Bucket=BUCKET, Prefix=key).get(kind, []):
                            if item["Key"] == key:
                                s3.delete_object(Bucket=BUCKET, Key=key, VersionId=item["VersionId"])

    def run_against_model(self, rng: random.Random, model: Dict[str, List[Version]]) -> None:
        s3 = self.admin
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        suspended = False
        wrong: List[tuple] = []

        def add(key: str, version: Optional[str], data: Optional[bytes]) -> None:
            if suspended:  # the null version is replaced, never kept beside another
                if version is not None and version != "null":
                    wrong.append((step, "a write while suspended made version", version))
                version = "null"
                model[key][:] = [entry for entry in model[key] if entry[0] != "null"]
            model[key].append((version, data))

        for step in range(250):
            action = rng.choice(("put", "put", "multipart", "delete", "delete-version", "copy", "get", "get-version",
                                 "list", "versioning"))
            key = rng.choice(KEYS)
            latest = model[key][-1] if model[key] else None
            if action == "versioning":
                status = rng.choice(("Enabled", "Suspended"))
                s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": status})
                suspended = status == "Suspended"
            elif action == "put":
                data = os.urandom(rng.choice((0, 1, 5000)))
                add(key, s3.put_object(Bucket=BUCKET, Key=key, Body=data).get("VersionId"), data)
            elif action == "multipart":
                upload = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
                parts = [os.urandom(5 * MIB), os.urandom(100)]
                tags = [s3.upload_part(Bucket=BUCKET, Key=key, UploadId=upload, PartNumber=number, Body=part)["ETag"]
                        for number, part in enumerate(parts, 1)]
                done = s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload, MultipartUpload={
                    "Parts": [{"PartNumber": number, "ETag": tag} for number, tag in enumerate(tags, 1)]})
                add(key, done.get("VersionId"), b"".join(parts))
            elif action == "delete":
                add(key, s3.delete_object(Bucket=BUCKET, Key=key).get("VersionId"), None)
            elif action == "delete-version" and model[key]:
                index = rng.randrange(len(model[key]))
                s3.delete_object(Bucket=BUCKET, Key=key, VersionId=model[key][index][0])
                del model[key][index]
            elif action == "copy":
                source = rng.choice([other for other in KEYS if other != key])  # (onto itself: InvalidRequest)
                current = model[source][-1] if model[source] else None
                if current is None or current[1] is None:
                    self.assertEqual(self.code_of(s3.copy_object, Bucket=BUCKET, Key=key,
                                                  CopySource={"Bucket": BUCKET, "Key": source}), "NoSuchKey")
                else:
                    made = s3.copy_object(Bucket=BUCKET, Key=key, CopySource={"Bucket": BUCKET, "Key": source})
                    add(key, made.get("VersionId"), current[1])
            elif action == "get":
                if latest is None or latest[1] is None:
                    self.assertEqual(self.code_of(s3.get_object, Bucket=BUCKET, Key=key), "NoSuchKey")
                elif s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() != latest[1]:
                    wrong.append((step, action, key, latest[0]))
            elif action == "get-version" and model[key]:
                version, data = rng.choice(model[key])
                if data is None:
                    self.assertEqual(self.code_of(s3.get_object, Bucket=BUCKET, Key=key, VersionId=version),
                                     "MethodNotAllowed")
                elif s3.get_object(Bucket=BUCKET, Key=key, VersionId=version)["Body"].read() != data:
                    wrong.append((step, action, key, version))
            elif action == "list":
                self.check_listings(model, step, wrong)
            if wrong:
                break
        self.check_listings(model, -1, wrong)
        self.assertEqual(wrong, [])

    def check_listings(self, model: Dict[str, List[Version]], step: int, wrong: List[tuple]) -> None:
        s3 = self.admin
        listed = s3.list_object_versions(Bucket=BUCKET)
        found: Dict[str, List[Tuple[str, bool, bool]]] = {}
        for kind, marker in (("Versions", False), ("DeleteMarkers", True)):
            for item in listed.get(kind, []):
                found.setdefault(item["Key"], []).append((item["VersionId"], marker, item["IsLatest"]))
        for key in KEYS:
            expected = {(version, data is None) for version, data in model[key]}
            seen = {(version, marker) for version, marker, _ in found.get(key, [])}
            latest = [version for version, _, is_latest in found.get(key, []) if is_latest]
            if seen != expected or latest != [version for version, _ in model[key][-1:]]:
                wrong.append((step, "versions of", key, sorted(seen ^ expected), latest))
        live = sorted(key for key in KEYS if model[key] and model[key][-1][1] is not None)
        current = sorted(item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))
        if current != live:
            wrong.append((step, "ListObjectsV2", current, live))
