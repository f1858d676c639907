"""A bucket seen as folders and files, as WebDAV names them: a file is a
key; a collection is a key prefix ending in ``/``, there while a key is
under it or its marker, the empty key of that very name (what MKCOL makes,
as S3 tools make a folder), is kept. The bucket's root is always there.

Every change goes through the bucket's handle (``catalog.handle``), key by
key: versioning, object lock, legal holds, append-only rules and quotas
hold here as on every face. A collection is copied key by key (no byte
copied: a new name for the same object) and moved by copying each key,
then deleting it, so that a stop midway leaves every key under its old
name or its new one, never under neither.
"""

from __future__ import annotations

import io
from typing import Callable, Iterator, List, Optional, Tuple, Union

from ...catalog.handle import BucketHandle, Described
from ...catalog.keys import Entry

PAGE = 1000  # keys read at a time
FOLDER_TYPE = "application/x-directory"  # a collection's marker, as S3 tools write one


class Tree:
    def __init__(self, handle: BucketHandle) -> None:
        self.handle = handle
        self.keys = handle.app.keys

    def file(self, key: str) -> Optional[Entry]:
        """The file at ``key`` (never a collection's marker)."""
        if not key or key.endswith("/"):
            return None
        found = self.handle.find(key)
        return found if isinstance(found, Entry) else None

    def collection(self, prefix: str) -> Union[bool, Entry]:
        """Whether the collection ``prefix`` (``""``: the root, else ending in
        ``/``) is there: its marker's entry where it has one, True where only
        keys under it make it, False where it is not."""
        if not prefix:
            return True
        marker = self.handle.find(prefix)
        if isinstance(marker, Entry):
            return marker
        return bool(self.keys.page(self.handle.name, prefix, limit=1).items)

    def children(self, prefix: str) -> Iterator[Tuple[str, Optional[Entry]]]:
        """The collection's members, a page of keys at a time: ``(name,
        entry)`` for a file, ``(name + "/", marker entry or None)`` for a
        collection."""
        after = ""
        while True:
            page = self.keys.page(self.handle.name, prefix, "/", after, PAGE, after_prefix=after.endswith("/"))
            for key, item in page.items:
                name = key[len(prefix):]
                if isinstance(item, Entry):
                    if name:  # (the collection's own marker)
                        yield name, item
                else:
                    marker = self.handle.find(key)
                    yield name, marker if isinstance(marker, Entry) else None
            if not page.truncated:
                return
            after = page.last

    def under(self, prefix: str) -> Iterator[Tuple[str, Entry]]:
        """Every key under ``prefix`` (its marker first), a page at a time."""
        after = ""
        while True:
            page = self.keys.page(self.handle.name, prefix, "", after, PAGE)
            yield from page.items  # type: ignore[misc]
            if not page.truncated:
                return
            after = page.last

    def everything(self, prefix: str) -> Iterator[Tuple[str, Optional[Entry]]]:
        """Every file and collection under the collection ``prefix`` (not
        itself), as ``(path, entry)``: each collection (its path ending
        ``/``, its marker's entry or None) before what it holds, a page of
        keys at a time. Keys under one folder come together in key order,
        so only the folders of the last key are remembered."""
        chain: List[str] = []  # the folders of the last key, outermost first
        for key, entry in self.under(prefix):
            if key == prefix:
                continue  # (the collection's own marker)
            parts = key[len(prefix):].split("/")
            while chain and not key.startswith(chain[-1]):
                chain.pop()
            for depth in range(1, len(parts)):
                folder = prefix + "/".join(parts[:depth]) + "/"
                if folder not in chain:
                    chain.append(folder)
                    yield folder, entry if folder == key else None
            if not key.endswith("/"):
                yield key, entry

    def make_collection(self, prefix: str, props: Optional[dict] = None) -> Entry:
        """The collection's marker written: an empty object."""
        return self.make_empty(prefix, FOLDER_TYPE, props)

    def make_empty(self, key: str, content_type: str = "application/octet-stream",
                   props: Optional[dict] = None) -> Entry:
        """``key``, which names nothing, made to name an empty object (a key
        that came meanwhile is not replaced: ``PreconditionFailed``)."""
        return self.handle.write_to(key).store(io.BytesIO(b""), Described(content_type, props=props))[1]

    def copy_tree(self, source: "Tree", prefix: str, to: str, each: Callable[[str, str], None],
                  replace: bool = False) -> None:
        """Every key under ``prefix`` of ``source`` given the same name under
        ``to`` here, ``each(old, new)`` after each one; ``replace``: as
        ``copy``."""
        for key, entry in source.under(prefix):
            new = to + key[len(prefix):]
            self.copy(source, entry, new, replace)
            each(key, new)

    def copy(self, source: "Tree", entry: Entry, key: str, replace: bool = False) -> Entry:
        """``key`` made to name ``entry``'s object (of ``source``'s bucket);
        ``replace``: over what ``key`` names, in the one commit a PUT over
        it makes (so that no moment finds it gone), else only as a new key."""
        other = None if source.handle.name == self.handle.name else source.handle.name
        return self.handle.write_to(key, may_replace=replace).copy(entry, Described.of(entry), other)

    def delete_tree(self, prefix: str, keep: Callable[[str], bool] = lambda key: False) -> int:
        """Every key under ``prefix`` deleted but those ``keep(key)`` keeps
        (the marker last, so a stop midway leaves the collection); how many."""
        done = 0
        marker = None
        for key, _ in self.under(prefix):  # each page read after the last key deleted: none missed
            if keep(key):
                continue
            if key == prefix:
                marker = key
                continue
            self.handle.delete(key)
            done += 1
        if marker is not None:
            self.handle.delete(marker)
            done += 1
        return done
