"""WebDAV against a model of a folder tree: a few hundred PUT, MKCOL,
DELETE, COPY, MOVE and GET requests drawn at random (a fixed seed, so a
failure repeats), each answer checked against what RFC 4918 says of the
tree as the model holds it, and the tree listed (PROPFIND, depth 1, folder
by folder) against the model's now and then. It found a COPY onto the
folder that held its source deleting the source."""

from __future__ import annotations

import os
import random
import xml.etree.ElementTree as ET
from typing import Dict, List, Set, Tuple
from urllib.parse import quote, unquote

from .test_webdav import WebDavCase

NAMES = ("a", "b", "c d", "\u00e9")  # (a space and a non-ASCII name among them)


def parent(path: str) -> str:
    return path.rpartition("/")[0]


def under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder + "/")


class Tree:
    """What the bucket ``drive`` should hold: files (path: bytes) and
    folders (paths; "" is the bucket's root)."""

    def __init__(self) -> None:
        self.files: Dict[str, bytes] = {}
        self.folders: Set[str] = {""}

    def drop(self, path: str) -> None:
        """A DELETE with Depth infinity of ``path``."""
        for name in [name for name in self.files if under(name, path)]:
            del self.files[name]
        self.folders -= {name for name in self.folders if under(name, path)}

    def place(self, source: str, destination: str, move: bool) -> None:
        """A COPY or MOVE of ``source`` to ``destination`` (gone already)."""
        files = {name: data for name, data in self.files.items() if under(name, source)}
        folders = {name for name in self.folders if under(name, source)}
        if move:
            self.drop(source)
        self.files.update((destination + name[len(source):], data) for name, data in files.items())
        self.folders |= {destination + name[len(source):] for name in folders}


class ModelTests(WebDavCase):
    def path(self, rng: random.Random) -> str:
        return "/".join(rng.choice(NAMES) for _ in range(rng.randint(1, 2)))

    def url(self, path: str, folder: bool = False) -> str:
        return "drive/" + quote(path) + ("/" if folder else "")

    def test_random_requests_agree_with_the_model(self):
        for seed in (3, 11, 12):
            with self.subTest(seed=seed):
                self.run_against_model(random.Random(seed))

    def run_against_model(self, rng: random.Random) -> None:
        files, folders = self.listed()  # an empty bucket to begin with, whatever a seed before left
        for name in sorted(folders | files):
            if "/" not in name:
                self.assertEqual(self.dav("DELETE", self.url(name, name in folders), self.writer).status, 204)
        tree = Tree()
        wrong: List[Tuple] = []
        for step in range(300):
            action = rng.choice(("put", "put", "mkcol", "delete", "move", "copy", "get", "list"))
            path = self.path(rng)
            if action == "put":
                data = os.urandom(rng.choice((0, 5, 100)))
                status = self.dav("PUT", self.url(path), self.writer, data).status
                if parent(path) not in tree.folders or path in tree.folders:
                    if status < 400:
                        wrong.append((step, action, path, status, "a 4xx"))
                elif status != (204 if path in tree.files else 201):
                    wrong.append((step, action, path, status))
                else:
                    tree.files[path] = data
            elif action == "mkcol":
                status = self.dav("MKCOL", self.url(path), self.writer).status
                expected = 409 if parent(path) not in tree.folders else (
                    405 if path in tree.folders or path in tree.files else 201)
                if status != expected:
                    wrong.append((step, action, path, status, expected))
                elif status == 201:
                    tree.folders.add(path)
            elif action == "delete":
                folder = path in tree.folders
                status = self.dav("DELETE", self.url(path, folder), self.writer).status
                expected = 204 if folder or path in tree.files else 404
                if status != expected:
                    wrong.append((step, action, path, status, expected))
                elif status == 204:
                    tree.drop(path)
            elif action in ("move", "copy"):
                self.carry(rng, tree, wrong, step, action, path)
            elif action == "get":
                reply = self.dav("GET", self.url(path), self.writer)
                if path in tree.files and (reply.status, reply.body) != (200, tree.files[path]):
                    wrong.append((step, action, path, reply.status))
                elif path not in tree.files and path not in tree.folders and reply.status != 404:
                    wrong.append((step, action, path, reply.status, 404))
            else:
                files, folders = self.listed()
                if (files, folders) != (set(tree.files), tree.folders - {""}):
                    wrong.append((step, "listing", sorted(files ^ set(tree.files)),
                                  sorted(folders ^ (tree.folders - {""}))))
            if wrong:
                break
        self.assertEqual(wrong, [])

    def carry(self, rng: random.Random, tree: Tree, wrong: List[Tuple], step: int, action: str, path: str) -> None:
        destination = self.path(rng)
        folder = path in tree.folders
        overwrite = rng.choice("TF")
        status = self.dav(action.upper(), self.url(path, folder), self.writer, headers={
            "Destination": "/dav/" + self.url(destination, folder), "Overwrite": overwrite}).status
        there = destination in tree.files or destination in tree.folders
        if not folder and path not in tree.files:
            expected = 404
        elif destination == path or (folder and under(destination, path)) or under(path, destination):
            expected = 403  # onto itself, inside itself, or onto the folder that holds it
        elif parent(destination) not in tree.folders:
            expected = 409
        elif there and overwrite == "F":
            expected = 412
        else:
            expected = 204 if there else 201
        if status != expected:
            wrong.append((step, action, path, destination, overwrite, status, expected))
        elif status in (201, 204):
            tree.drop(destination)
            tree.place(path, destination, action == "move")

    def listed(self) -> Tuple[Set[str], Set[str]]:
        """Every file and folder under ``drive/``, folder by folder."""
        files: Set[str] = set()
        folders: Set[str] = set()
        waiting = [""]
        while waiting:
            folder = waiting.pop()
            reply = self.dav("PROPFIND", self.url(folder, True) if folder else "drive/", self.writer,
                             headers={"Depth": "1"})
            self.assertEqual(reply.status, 207, reply.body)
            for response in ET.fromstring(reply.body).findall("{DAV:}response"):
                name = unquote(response.findtext("{DAV:}href"))[len("/dav/drive/"):].rstrip("/")
                if name == folder:
                    continue
                if response.find(".//{DAV:}collection") is not None:
                    folders.add(name)
                    waiting.append(name)
                else:
                    files.add(name)
        return files, folders
