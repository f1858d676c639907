"""WebDAV's promises where a client does what a careless server gets
wrong: a Destination that is its source with a trailing or encoded slash,
or on another host; a listing asked for with no token under ``--auth
writes``; a MOVE by a token that may not read what it moves; XML nested
2,000 deep or with an entity in UTF-16; six LOCKs of one file at once; a
new token given a revoked token's name, and its locks; RFC 9110's
conditions on a change."""

from __future__ import annotations

import threading
from typing import List

from ..support import Threads

from .test_webdav import LOCK, WebDavCase


class SelfDestinationTests(WebDavCase):
    """docs/webdav.md: a key is under its old name or its new one, never lost."""

    def test_a_move_or_copy_onto_its_own_name_with_a_slash_is_refused_and_keeps_the_file(self):
        self.assertEqual(self.dav("PUT", "drive/a", self.writer, b"precious").status, 201)
        base = "http://127.0.0.1:%d/dav/drive/" % self.port
        for method in ("MOVE", "COPY"):
            for destination in (base + "a/", base + "a%2F", "/dav/drive/a/", base + "a"):
                with self.subTest(method=method, destination=destination):
                    reply = self.dav(method, "drive/a", self.writer, headers={"Destination": destination})
                    self.assertEqual(reply.status, 403, reply.body)
                    self.assertEqual(self.dav("GET", "drive/a", self.writer).body, b"precious")
        self.assertEqual(self.app.keys.get("drive", "a").size, len(b"precious"))

    def test_a_collection_onto_itself_without_its_slash_is_refused(self):
        self.assertEqual(self.dav("MKCOL", "drive/dir/", self.writer).status, 201)
        self.assertEqual(self.dav("PUT", "drive/dir/in", self.writer, b"inside").status, 201)
        reply = self.dav("MOVE", "drive/dir/", self.writer, headers={"Destination": "/dav/drive/dir"})
        self.assertEqual(reply.status, 403, reply.body)
        self.assertEqual(self.dav("GET", "drive/dir/in", self.writer).body, b"inside")

    def test_a_move_or_copy_onto_the_collection_that_holds_it_is_refused_and_keeps_everything(self):
        """Overwriting the destination deletes it first (RFC 4918): a COPY of
        dir/in onto dir, Overwrite T, once deleted dir/in with dir's other
        files, and was 204."""
        self.assertEqual(self.dav("MKCOL", "drive/dir/", self.writer).status, 201)
        self.assertEqual(self.dav("MKCOL", "drive/dir/sub/", self.writer).status, 201)
        self.assertEqual(self.dav("PUT", "drive/dir/in", self.writer, b"inside").status, 201)
        self.assertEqual(self.dav("PUT", "drive/dir/other", self.writer, b"beside").status, 201)
        for method in ("COPY", "MOVE"):
            for source, destination in (("drive/dir/in", "/dav/drive/dir"), ("drive/dir/in", "/dav/drive/dir/"),
                                        ("drive/dir/sub/", "/dav/drive/dir/")):
                with self.subTest(method=method, source=source, destination=destination):
                    reply = self.dav(method, source, self.writer, headers={"Destination": destination,
                                                                            "Overwrite": "T"})
                    self.assertEqual(reply.status, 403, reply.body)
        self.assertEqual(self.dav("GET", "drive/dir/in", self.writer).body, b"inside")
        self.assertEqual(self.dav("GET", "drive/dir/other", self.writer).body, b"beside")
        self.assertEqual(self.dav("PROPFIND", "drive/dir/sub/", self.writer, headers={"Depth": "0"}).status, 207)

    def test_a_file_beside_the_folder_of_its_name_is_replaced_alone(self):
        """S3 lets a key ``dir`` and keys under ``dir/`` be at once: a COPY
        onto the file ``dir`` replaces that file, and the folder stays."""
        self.assertEqual(self.dav("MKCOL", "drive/dir/", self.writer).status, 201)
        self.assertEqual(self.dav("PUT", "drive/dir/in", self.writer, b"inside").status, 201)
        self.app.keyspace.name(self.app.buckets.get("drive"), "dir", self.app.keys.get("drive", "dir/in"))
        reply = self.dav("COPY", "drive/dir/in", self.writer, headers={"Destination": "/dav/drive/dir",
                                                                        "Overwrite": "T"})
        self.assertEqual(reply.status, 204, reply.body)
        self.assertEqual(self.dav("GET", "drive/dir/in", self.writer).body, b"inside")

    def test_a_file_moved_to_a_name_with_a_slash_takes_the_name_without_it(self):
        self.assertEqual(self.dav("PUT", "drive/b", self.writer, b"bee").status, 201)
        reply = self.dav("MOVE", "drive/b", self.writer, headers={"Destination": "/dav/drive/c/"})
        self.assertEqual(reply.status, 201, reply.body)
        self.assertEqual(self.dav("GET", "drive/c", self.writer).body, b"bee")
        self.assertEqual(self.dav("GET", "drive/b", self.writer).status, 404)


class ElsewhereTests(WebDavCase):
    def test_a_destination_on_another_host_is_502_and_nothing_moves(self):
        self.assertEqual(self.dav("PUT", "drive/here", self.writer, b"stays").status, 201)
        for destination in ("http://elsewhere.example/dav/drive/there",
                            "http://127.0.0.1:%d/dav/drive/there" % (self.port + 1),
                            "ftp://127.0.0.1:%d/dav/drive/there" % self.port):
            with self.subTest(destination=destination):
                reply = self.dav("MOVE", "drive/here", self.writer, headers={"Destination": destination})
                self.assertEqual(reply.status, 502, reply.body)
                self.assertEqual(reply.json()["error"], "bad_gateway")
        self.assertEqual(self.dav("GET", "drive/here", self.writer).body, b"stays")
        self.assertEqual(self.dav("GET", "drive/there", self.writer).status, 404)

    def test_a_destination_that_is_no_url_or_path_from_the_root_is_400_and_nothing_moves(self):
        self.assertEqual(self.dav("PUT", "drive/here", self.writer, b"stays").status, 201)
        for destination in ("http://[127.0.0.1/dav/drive/there", "drive/there", "1.0.0, 2",
                            "//127.0.0.1/dav/drive/there", "http://127.0.0.1:port/dav/drive/there"):
            for method in ("MOVE", "COPY"):
                with self.subTest(method=method, destination=destination):
                    reply = self.dav(method, "drive/here", self.writer, headers={"Destination": destination})
                    self.assertEqual(reply.status, 400, reply.body)
                    self.assertIn("Destination", reply.json()["message"])
        self.assertEqual(self.dav("GET", "drive/here", self.writer).body, b"stays")
        self.assertEqual(self.dav("GET", "drive/there", self.writer).status, 404)

    def test_this_servers_own_name_with_its_default_port_spelled_is_here(self):
        self.assertEqual(self.dav("PUT", "drive/here", self.writer, b"moves").status, 201)
        reply = self.dav("MOVE", "drive/here", self.writer, headers={
            "Destination": "http://127.0.0.1:%d/dav/drive/there" % self.port})
        self.assertEqual(reply.status, 201, reply.body)
        self.assertEqual(self.dav("GET", "drive/there", self.writer).body, b"moves")


class OverwriteTests(WebDavCase):
    """A COPY or MOVE over a file replaces it as a PUT does: a copy that
    fails (here: the destination bucket's quota) leaves it as it was."""

    def test_a_copy_over_a_file_that_fails_keeps_the_file(self):
        self.app.buckets.create("vault")
        secret = self.app.tokens.create(["data:drive:*", "data:vault:*"])[1]
        self.assertEqual(self.dav("PUT", "drive/big", secret, b"b" * 100).status, 201)
        self.assertEqual(self.dav("PUT", "vault/doc", secret, b"keep me").status, 201)
        self.app.quotas.set_bucket_quota(self.app.buckets.get("vault"), 50)
        for method in ("COPY", "MOVE"):
            with self.subTest(method=method):
                reply = self.dav(method, "drive/big", secret, headers={"Destination": "/dav/vault/doc",
                                                                       "Overwrite": "T"})
                self.assertEqual(reply.status, 507, reply.body)
                self.assertEqual(self.dav("GET", "vault/doc", secret).body, b"keep me")
                self.assertEqual(self.dav("GET", "drive/big", secret).body, b"b" * 100)

    def test_a_collection_over_a_collection_keeps_what_it_writes_over_until_written(self):
        self.app.buckets.create("vault")
        secret = self.app.tokens.create(["data:drive:*", "data:vault:*"])[1]
        for folder in ("drive/dir/", "vault/dir/"):
            self.assertEqual(self.dav("MKCOL", folder, secret).status, 201, folder)
        for name, data in (("drive/dir/a", b"a" * 40), ("drive/dir/b", b"b" * 40),
                           ("vault/dir/a", b"old a"), ("vault/dir/z", b"old z")):
            self.assertEqual(self.dav("PUT", name, secret, data).status, 201, name)
        self.app.quotas.set_bucket_quota(self.app.buckets.get("vault"), 60)  # room for one new file, not two
        reply = self.dav("COPY", "drive/dir/", secret, headers={"Destination": "/dav/vault/dir/"})
        self.assertEqual(reply.status, 507, reply.body)
        self.assertEqual(self.dav("GET", "vault/dir/z", secret).status, 404)  # not written by the copy: gone first
        self.assertIn(self.dav("GET", "vault/dir/a", secret).body, (b"old a", b"a" * 40))  # never gone
        self.app.quotas.set_bucket_quota(self.app.buckets.get("vault"), None)
        reply = self.dav("COPY", "drive/dir/", secret, headers={"Destination": "/dav/vault/dir/"})
        self.assertEqual(reply.status, 204, reply.body)
        self.assertEqual([self.dav("GET", "vault/dir/" + name, secret).body for name in "ab"], [b"a" * 40, b"b" * 40])

    def test_a_copy_over_a_file_replaces_it_in_a_versioned_bucket_with_one_version(self):
        self.app.buckets.set_versioning(self.app.buckets.get("drive"), "Enabled")
        for name, data in (("drive/a", b"new"), ("drive/b", b"old")):
            self.assertEqual(self.dav("PUT", name, self.writer, data).status, 201)
        reply = self.dav("COPY", "drive/a", self.writer, headers={"Destination": "/dav/drive/b"})
        self.assertEqual(reply.status, 204, reply.body)
        self.assertEqual(self.dav("GET", "drive/b", self.writer).body, b"new")
        older = self.app.versions.of("drive", "b")
        self.assertEqual([version.marker for version in older], [False])  # the old bytes; no delete marker between


class MoveReadsTests(WebDavCase):
    def test_a_move_needs_read_on_its_source(self):
        self.app.buckets.create("vault")
        self.assertEqual(self.dav("PUT", "vault/secret", self.app.tokens.create(["data:vault:*"])[1],
                                  b"the secret").status, 201)
        mover = self.app.tokens.create(["data:vault:delete", "data:drive:create", "data:drive:read"])[1]
        reply = self.dav("MOVE", "vault/secret", mover, headers={"Destination": "/dav/drive/stolen"})
        self.assertEqual(reply.status, 403, reply.body)
        self.assertEqual(self.dav("GET", "drive/stolen", mover).status, 404)
        self.assertEqual(self.app.keys.get("vault", "secret").size, len(b"the secret"))
        allowed = self.app.tokens.create(["data:vault:delete", "data:vault:read", "data:drive:create"])[1]
        self.assertEqual(self.dav("MOVE", "vault/secret", allowed, headers={
            "Destination": "/dav/drive/moved"}).status, 201)


class WritesModeListingTests(WebDavCase):
    config_overrides = {"auth": "writes"}

    def test_anyone_reads_a_file_but_a_listing_needs_a_token(self):
        self.assertEqual(self.dav("PUT", "drive/open", self.writer, b"readable").status, 201)
        self.assertEqual(self.dav("GET", "drive/open").body, b"readable")
        self.assertEqual(self.dav("PROPFIND", "drive/open", headers={"Depth": "0"}).status, 207)
        refused = self.dav("PROPFIND", "drive/", headers={"Depth": "1"})
        self.assertEqual(refused.status, 401, refused.body)
        self.assertTrue(refused.headers["WWW-Authenticate"].startswith("Basic "))
        self.assertNotIn(b"open", refused.body)
        other = self.app.tokens.create(["data:elsewhere:read"])[1]
        self.assertEqual(self.dav("PROPFIND", "drive/", other, headers={"Depth": "1"}).status, 403)
        self.assertIn("/dav/drive/open", self.listed("drive/", self.writer))



class HostileXmlTests(WebDavCase):
    """A body the XML reader must refuse (400), never a 500, and never an
    entity expanded, in any encoding."""

    def test_deep_nesting_in_proppatch_and_a_lock_owner_is_400(self):
        self.assertEqual(self.dav("PUT", "drive/deep", self.writer, b"x").status, 201)
        deep = b"<x:a xmlns:x='urn:x'>" * 2000 + b"</x:a>" * 2000
        patch = (b'<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>%s</D:prop></D:set>'
                 b"</D:propertyupdate>" % deep)
        lock = LOCK.replace(b"<D:owner>me</D:owner>", b"<D:owner>%s</D:owner>" % deep)
        find = b"<D:propfind xmlns:D='DAV:'><D:prop>%s</D:prop></D:propfind>" % deep
        for method, body in (("PROPPATCH", patch), ("LOCK", lock), ("PROPFIND", find)):
            with self.subTest(method=method):
                reply = self.dav(method, "drive/deep", self.writer, body, {"Depth": "0"})
                self.assertEqual(reply.status, 400, reply.body[:300])
                self.assertIn("deeper", reply.json()["message"])
        self.assertIsNone(self.app.keys.get("drive", "deep").props)

    def test_an_entity_in_utf16_is_refused_and_nothing_is_stored(self):
        self.assertEqual(self.dav("PUT", "drive/entity", self.writer, b"x").status, 201)
        text = ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE p [<!ENTITY e "expanded">]>'
                '<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop><Z:p>&e;</Z:p></D:prop>'
                '</D:set></D:propertyupdate>')
        reply = self.dav("PROPPATCH", "drive/entity", self.writer, text.encode("utf-16"))
        self.assertEqual(reply.status, 400, reply.body)
        self.assertIsNone(self.app.keys.get("drive", "entity").props)

    def test_a_property_in_utf16_without_entities_is_kept(self):
        self.assertEqual(self.dav("PUT", "drive/utf16", self.writer, b"x").status, 201)
        text = ('<?xml version="1.0" encoding="UTF-16"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z">'
                '<D:set><D:prop><Z:colour>grün</Z:colour></D:prop></D:set></D:propertyupdate>')
        reply = self.dav("PROPPATCH", "drive/utf16", self.writer, text.encode("utf-16"))
        self.assertEqual(reply.status, 207, reply.body)
        found = self.listed("drive/utf16", self.writer, "0")["/dav/drive/utf16"]
        self.assertEqual(found.findtext(".//{urn:z}colour"), "grün")


class LockRaceTests(WebDavCase):
    ROUNDS = 20
    LOCKERS = 6

    def test_of_lockers_at_once_one_exclusive_lock_is_granted(self):
        lockers = [self.app.tokens.create(["data:drive:*"], "locker%d" % n)[1] for n in range(self.LOCKERS)]
        for turn in range(self.ROUNDS):
            path = "drive/raced%02d" % turn
            self.assertEqual(self.dav("PUT", path, self.writer, b"x").status, 201)
            barrier = threading.Barrier(self.LOCKERS)
            statuses: List[int] = []
            with Threads(60) as threads:
                for secret in lockers:
                    threads.start(self.lock_at_once, barrier, path, secret, statuses)
            self.assertEqual(sorted(statuses), [200] + [423] * (self.LOCKERS - 1), "round %d" % turn)

    def lock_at_once(self, barrier: threading.Barrier, path: str, secret: str, statuses: List[int]) -> None:
        try:
            barrier.wait(30)
        except threading.BrokenBarrierError:
            return  # another locker failed: its own error says why
        statuses.append(self.dav("LOCK", path, secret, LOCK, {"Timeout": "Second-600"}).status)


class LockHolderTests(WebDavCase):
    def test_a_new_token_given_a_revoked_tokens_name_does_not_hold_its_lock(self):
        old = self.app.tokens.create(["data:drive:*"], "laptop")[1]
        self.assertEqual(self.dav("PUT", "drive/doc", old, b"one").status, 201)
        locked = self.dav("LOCK", "drive/doc", old, LOCK, {"Timeout": "Second-600"})
        self.assertEqual(locked.status, 200, locked.body)
        token = locked.headers["Lock-Token"]
        self.app.tokens.revoke("laptop")
        new = self.app.tokens.create(["data:drive:*"], "laptop")[1]
        self.assertEqual(self.dav("PUT", "drive/doc", new, b"two", {"If": "(%s)" % token}).status, 423)
        self.assertEqual(self.dav("UNLOCK", "drive/doc", new, headers={"Lock-Token": token}).status, 403)
        self.assertEqual(self.dav("LOCK", "drive/doc", new, headers={"If": "(%s)" % token}).status, 412)
        self.assertEqual(self.dav("GET", "drive/doc", new).body, b"one")

    def test_the_token_that_took_a_lock_uses_it(self):
        self.assertEqual(self.dav("PUT", "drive/mine", self.writer, b"one").status, 201)
        token = self.dav("LOCK", "drive/mine", self.writer, LOCK).headers["Lock-Token"]
        self.assertEqual(self.dav("PUT", "drive/mine", self.writer, b"two", {"If": "(%s)" % token}).status, 204)
        self.assertEqual(self.dav("UNLOCK", "drive/mine", self.writer, headers={"Lock-Token": token}).status, 204)


class PreconditionTests(WebDavCase):
    """RFC 9110's conditions on WebDAV's changes, as S3 judges them: 412
    and nothing done where one fails."""

    def setUp(self) -> None:
        super().setUp()
        self.assertEqual(self.dav("PUT", "drive/doc", self.writer, b"first").status, 201)
        self.etag = '"%s"' % self.app.keys.get("drive", "doc").etag

    def assertFirst(self) -> None:
        self.assertEqual(self.dav("GET", "drive/doc", self.writer).body, b"first")

    def test_failing_conditions_are_412_and_change_nothing(self):
        past = "Sat, 01 Jan 2000 00:00:00 GMT"
        elsewhere = {"Destination": "/dav/drive/moved"}
        for method, headers, body in (("PUT", {"If-None-Match": "*"}, b"second"),
                                      ("PUT", {"If-Match": '"not-it"'}, b"second"),
                                      ("PUT", {"If-None-Match": self.etag}, b"second"),
                                      ("PUT", {"If-Unmodified-Since": past}, b"second"),
                                      ("DELETE", {"If-Match": '"not-it"'}, b""),
                                      ("DELETE", {"If-Unmodified-Since": past}, b""),
                                      ("MOVE", dict(elsewhere, **{"If-Match": '"not-it"'}), b""),
                                      ("COPY", dict(elsewhere, **{"If-None-Match": "*"}), b"")):
            with self.subTest(method=method, headers=headers):
                reply = self.dav(method, "drive/doc", self.writer, body, headers)
                self.assertEqual(reply.status, 412, reply.body)
                self.assertFirst()
        self.assertEqual(self.dav("GET", "drive/moved", self.writer).status, 404)
        self.assertEqual(self.dav("PUT", "drive/new", self.writer, b"x", {"If-Match": "*"}).status, 412)
        self.assertEqual(self.dav("GET", "drive/new", self.writer).status, 404)

    def test_conditions_that_hold_let_the_change_through(self):
        self.assertEqual(self.dav("PUT", "drive/doc", self.writer, b"second", {"If-Match": self.etag}).status, 204)
        self.assertEqual(self.dav("PUT", "drive/fresh", self.writer, b"new", {"If-None-Match": "*"}).status, 201)
        later = "Fri, 01 Jan 2100 00:00:00 GMT"
        self.assertEqual(self.dav("DELETE", "drive/fresh", self.writer, headers={
            "If-Unmodified-Since": later}).status, 204)
        self.assertEqual(self.dav("GET", "drive/doc", self.writer).body, b"second")
