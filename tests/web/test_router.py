"""The router: the first route added whose pattern matches a path takes
it, whether routes begin with a literal segment or with a capture, and a
path no route takes is 404, a method none takes 405 with ``Allow``."""

from __future__ import annotations

import unittest

from filestoraged.errors import MethodNotAllowed, NotFound
from filestoraged.web.router import Router


def handler(name):
    return lambda request, **captures: name


class RouterTests(unittest.TestCase):
    def setUp(self) -> None:
        self.router = Router()
        add = self.router.add
        add("/", "root", {"GET": handler("root")}, {"GET": None})
        add("/a/x", "a", {"GET": handler("a/x")}, {"GET": None})
        add("/{first}/x", "any", {"GET": handler("{first}/x"), "PUT": handler("put {first}/x")},
            {"GET": None, "PUT": None})
        add("/a/{second}", "a", {"GET": handler("a/{second}")}, {"GET": None}, query=("q",))
        add("/b", "b", {"POST": handler("b")}, {"POST": None}, wrong_method_is_not_found=True)
        add("/{first}", "any", {"DELETE": handler("{first}")}, {"DELETE": None})
        add("/kv/{key...}", "kv", {"GET": handler("kv")}, {"GET": None})

    def taken(self, method: str, path: str):
        found, captures, face, _ = self.router.match(method, path)
        return found(None), captures, face

    def test_the_first_route_added_that_matches_takes_the_path(self):
        self.assertEqual(self.taken("GET", "/"), ("root", {}, "root"))
        self.assertEqual(self.taken("GET", "/a/x"), ("a/x", {}, "a"))  # before the capture's
        self.assertEqual(self.taken("PUT", "/c/x"), ("put {first}/x", {"first": "c"}, "any"))
        self.assertEqual(self.taken("GET", "/c/x"), ("{first}/x", {"first": "c"}, "any"))
        self.assertEqual(self.taken("GET", "/a/y"), ("a/{second}", {"second": "y"}, "a"))
        self.assertEqual(self.taken("DELETE", "/b"), ("{first}", {"first": "b"}, "any"))  # /b's 404 lets it by
        self.assertEqual(self.taken("DELETE", "/zzz"), ("{first}", {"first": "zzz"}, "any"))
        self.assertEqual(self.taken("GET", "/kv/p/q/r"), ("kv", {"key": "p/q/r"}, "kv"))

    def test_a_path_no_route_takes_is_404_and_a_method_none_takes_405(self):
        for path in ("/c/y", "/a/x/z", "/nothing/here", "//"):
            with self.subTest(path=path):
                self.assertRaises(NotFound, self.router.match, "GET", path)
        for method, path in (("POST", "/a/y"), ("PUT", "/a/x")):  # (the first route that matches answers)
            with self.subTest(method=method, path=path), self.assertRaises(MethodNotAllowed) as refused:
                self.router.match(method, path)
            self.assertEqual(refused.exception.allow, ["GET", "HEAD"])

    def test_methods_faces_and_queries_follow_the_same_routes(self):
        self.assertEqual(self.router.methods_for("/a/x"), ["GET", "HEAD", "PUT"])
        self.assertEqual(self.router.methods_for("/b"), ["DELETE", "POST"])
        self.assertEqual(self.router.face_of("/c/x"), "any")
        self.assertEqual(self.router.face_of("/nothing/here"), "other")
        self.router.check_query("/a/y", "q=1")
        with self.assertRaises(Exception) as refused:
            self.router.check_query("/a/y", "r=1")
        self.assertIn("r", str(refused.exception))
