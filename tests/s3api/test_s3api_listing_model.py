"""Listings against a model, through boto3: 150 keys of a few characters
drawn at random (``/`` and other delimiters among them, a non-ASCII one,
a space), listed with prefixes, delimiters, a start, and pages of 1 to
1,000, by ListObjectsV2 (its continuation tokens) and ListObjects (its
markers): every page within its size, and all pages together exactly
what the model lists in one go. And ListObjectVersions page by page
equals it whole."""

from __future__ import annotations

import random
from typing import Iterable, List, Tuple

from ..s3api_support import BotoCase

PIECES = ("a", "b", "/", "-", "\u00e9", "a/", "z", "~", " ", "!")


def expected(keys: Iterable[str], prefix: str, delimiter: str, start_after: str) -> Tuple[List[str], List[str]]:
    """The keys and common prefixes one listing gives: keys under ``prefix``
    after ``start_after``, those holding ``delimiter`` past the prefix
    rolled up into a common prefix, once; a common prefix that sorts at or
    before ``start_after`` is passed by (as a v1 marker that is a common
    prefix goes on past everything under it)."""
    found: List[str] = []
    prefixes: List[str] = []
    for key in sorted(keys):
        if not key.startswith(prefix) or (start_after and key <= start_after):
            continue
        cut = key.find(delimiter, len(prefix)) if delimiter else -1
        if cut < 0:
            found.append(key)
            continue
        common = key[:cut + len(delimiter)]
        if (not start_after or common > start_after) and common not in prefixes:
            prefixes.append(common)
    return found, prefixes


class ListingModelTests(BotoCase):
    def test_every_page_size_lists_what_the_model_lists(self):
        s3 = self.admin
        s3.create_bucket(Bucket="listed")
        for seed in (1, 2):
            rng = random.Random(seed)
            keys = set()
            while len(keys) < 150:
                keys.add("".join(rng.choice(PIECES) for _ in range(rng.randint(1, 6))))
            for key in keys:
                s3.put_object(Bucket="listed", Key=key, Body=b"")
            wrong = []
            for _ in range(60):
                prefix = rng.choice(("", "a", "a/", "b", "\u00e9", "a/b", "z", "/"))
                delimiter = rng.choice(("", "/", "a", "-", "\u00e9/"))
                most = rng.choice((1, 2, 3, 7, 1000))
                start = rng.choice(("", "", "a", "a/", "b/", "\u00e9", "a/b/"))
                asked = (prefix, delimiter, most, start)
                model = expected(keys, prefix, delimiter, start)
                for version in (2, 1):
                    listed = self.pages(version, prefix, delimiter, most, start, wrong, asked)
                    if listed != model:
                        wrong.append(("v%d" % version, asked, len(listed[0]), len(model[0]), listed[1], model[1]))
            self.assertEqual(wrong, [], "seed %d" % seed)
            s3.delete_objects(Bucket="listed", Delete={"Objects": [{"Key": key} for key in keys]})

    def pages(self, version: int, prefix: str, delimiter: str, most: int, start: str, wrong: list,
              asked: tuple) -> Tuple[List[str], List[str]]:
        """Keys and common prefixes of every page, in order."""
        s3 = self.admin
        asking = {"Bucket": "listed", "Prefix": prefix, "MaxKeys": most}
        if delimiter:
            asking["Delimiter"] = delimiter
        if start:
            asking["StartAfter" if version == 2 else "Marker"] = start
        keys: List[str] = []
        prefixes: List[str] = []
        for _ in range(500):
            page = (s3.list_objects_v2 if version == 2 else s3.list_objects)(**asking)
            contents, commons = page.get("Contents", []), page.get("CommonPrefixes", [])
            keys += [item["Key"] for item in contents]
            prefixes += [item["Prefix"] for item in commons]
            size = len(contents) + len(commons)
            if size > most or (version == 2 and page["KeyCount"] != size):
                wrong.append(("page of", version, asked, len(contents), len(commons), page.get("KeyCount")))
            if not page["IsTruncated"]:
                return keys, prefixes
            if version == 2:
                asking.pop("StartAfter", None)
                asking["ContinuationToken"] = page["NextContinuationToken"]
            else:
                asking["Marker"] = page.get("NextMarker") or keys[-1]
        wrong.append(("no end", version, asked))
        return keys, prefixes

    def test_versions_listed_page_by_page_are_the_versions_listed_whole(self):
        rng = random.Random(5)
        s3 = self.admin
        s3.create_bucket(Bucket="paged")
        s3.put_bucket_versioning(Bucket="paged", VersioningConfiguration={"Status": "Enabled"})
        keys = ("a", "a/b", "a/c", "b", "b/x/y", "c", "\u00e9", "z/z")
        for _ in range(60):
            key = rng.choice(keys)
            if rng.random() < 0.2:
                s3.delete_object(Bucket="paged", Key=key)
            else:
                s3.put_object(Bucket="paged", Key=key, Body=b"x")
        for prefix in ("", "a", "b/", "z"):
            for delimiter in ("", "/"):
                asking = {"Bucket": "paged", "Prefix": prefix, "MaxKeys": 1000}
                if delimiter:
                    asking["Delimiter"] = delimiter
                whole = self.versions(s3.list_object_versions(**asking))
                for most in (1, 2, 3, 5):
                    with self.subTest(prefix=prefix, delimiter=delimiter, most=most):
                        self.assertEqual(self.paged_versions(dict(asking, MaxKeys=most)), whole)

    def versions(self, page) -> Tuple[List[Tuple[str, str, bool]], List[str]]:
        return ([(item["Key"], item["VersionId"], False) for item in page.get("Versions", [])]
                + [(item["Key"], item["VersionId"], True) for item in page.get("DeleteMarkers", [])],
                [item["Prefix"] for item in page.get("CommonPrefixes", [])])

    def paged_versions(self, asking: dict) -> Tuple[List[Tuple[str, str, bool]], List[str]]:
        """Every page's versions (in the order a whole listing gives them:
        versions, then markers) and common prefixes."""
        versions: List[Tuple[str, str, bool]] = []
        prefixes: List[str] = []
        for _ in range(1000):
            page = self.admin.list_object_versions(**asking)
            found, commons = self.versions(page)
            versions += found
            prefixes += commons
            if not page["IsTruncated"]:
                break
            asking["KeyMarker"] = page.get("NextKeyMarker", "")
            asking.pop("VersionIdMarker", None)
            if page.get("NextVersionIdMarker"):
                asking["VersionIdMarker"] = page["NextVersionIdMarker"]
        return sorted(versions, key=lambda item: item[2]), prefixes
