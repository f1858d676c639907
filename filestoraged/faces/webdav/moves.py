"""COPY and MOVE (RFC 4918 9.8, 9.9): the source's keys given their names
at the ``Destination`` (no byte copied within a bucket; across buckets the
bytes are stored once more), then, for a move, deleted from the source,
key by key, so that a stop midway leaves every key under its old name or
its new one, never lost; what the destination held is written over, not
deleted first, where the copy writes the same name. ``Overwrite`` and
``Depth`` as the RFC says; the locks and ``If`` conditions of both ends
judged first."""

from __future__ import annotations

from typing import Callable

from ...access.scopes import Need, Scope
from ...catalog.keys import Entry
from ...errors import Conflict, Forbidden, NotFound, PreconditionFailed
from ...web.messages import EmptyResponse, Request, Response
from .locking import Locking
from .paths import copy_depth_of, creatable, destination_of, folder_of, key_of, overwrite_of, parent_of
from .signin import require
from .tree import Tree


class Moves:
    def __init__(self, base: str, open_tree: Callable[..., Tree], guard: Callable[..., None], locking: Locking,
                 macos_files: str) -> None:
        """``open_tree(request, bucket, verb, key)``: the bucket as a tree,
        the token's scope for ``verb`` judged; ``guard``: the locks' and
        ``If``'s judgement (``WebDavFace._guard``)."""
        self.base, self.open_tree, self.guard, self.locking = base, open_tree, guard, locking
        self.macos_files = macos_files

    def carry_out(self, request: Request, bucket: str, path: str, move: bool) -> Response:
        """COPY or MOVE: the source's keys given their names at the
        ``Destination`` (no byte copied within a bucket), then, for a move,
        deleted from the source, key by key."""
        key = key_of(path)
        to_bucket, to_key = destination_of(request, self.base)
        overwrite = overwrite_of(request)
        shallow = copy_depth_of(request) == "0"
        source = self.open_tree(request, bucket, "read", key)
        if move:  # a move gives its source's bytes a new name: it reads them as a copy does, then deletes
            require(request, Need(Scope("data", "delete", bucket, key or None)))
        entry = source.file(key)
        prefix = None if entry is not None else folder_of(key)
        if entry is None and (not prefix or not source.collection(prefix)):
            raise NotFound("nothing at %s in %s" % (key[:200], bucket)) if prefix else Forbidden(
                "a bucket is copied through S3, not COPY")
        target = self.open_tree(request, to_bucket, "create", to_key)
        if not to_key:
            raise Forbidden("a bucket's root is not a destination")
        # One canonical name for each end before they are compared: a file's
        # Destination with a trailing slash (``a/``, ``a%2F``) names the file ``a``.
        to_prefix = folder_of(to_key)
        destination = to_prefix if prefix else to_key.rstrip("/")
        if to_bucket == bucket and (destination == (prefix or key) or (prefix and destination.startswith(prefix))):
            raise Forbidden("the destination is the source, or inside it")
        if not target.collection(parent_of(to_key.rstrip("/"))):
            raise Conflict("the collection %s does not exist" % parent_of(to_key.rstrip("/"))[:200])
        replaced = target.file(to_key.rstrip("/"))
        # Overwriting a collection deletes it first (RFC 4918): one that
        # holds the source would take the source with it. (A file of its
        # name beside it, as S3 keys may be, is replaced alone.)
        if to_bucket == bucket and replaced is None and (prefix or key).startswith(to_prefix):
            raise Forbidden("the destination %s holds the source" % to_prefix[:200])
        existed = replaced is not None or bool(target.collection(to_prefix))
        if not existed:
            creatable(to_prefix if prefix else to_key, self.macos_files)
        if move:
            self.guard(request, bucket, [prefix or key], [parent_of(prefix or key)], [prefix] if prefix else [])
        else:
            self.guard(request, bucket, [], resource=prefix or key)  # the If header's conditions, on the source
        self.guard(request, to_bucket, [destination], [parent_of(destination)], [to_prefix] if existed else [],
                    judge=False)
        if existed and not overwrite:
            raise PreconditionFailed(message="%s exists and Overwrite is F" % to_key[:200])
        if existed:
            require(request, Need(Scope("data", "delete", to_bucket, to_key)))
        # What the destination holds goes so that a stop or a failure midway
        # (a quota, a full disk) loses nothing the request would have kept:
        # a key the copy writes is written over in one commit, as a PUT
        # writes over it; the rest of a collection there goes first; a file
        # or a collection of the other kind at the same name goes after.
        over_collection = existed and replaced is None
        if over_collection and prefix:
            written = (lambda key: False) if shallow and not move else (
                lambda key: source.handle.find(prefix + key[len(to_prefix):]) is not None)
            target.delete_tree(to_prefix, keep=written)
        if entry is not None:
            target.copy(source, entry, to_key.rstrip("/"), replace=existed)
            if move:
                source.handle.delete(key)
                self.locking.drop(bucket, key)
        elif shallow and not move:
            marker = source.collection(prefix)  # type: ignore[arg-type]
            target.make_collection(to_prefix, marker.props if isinstance(marker, Entry) else None)
        else:
            target.copy_tree(source, prefix, to_prefix,  # type: ignore[arg-type]
                             lambda old, new: source.handle.delete(old) if move else None, replace=existed)
            if move:
                self.locking.drop(bucket, prefix)  # type: ignore[arg-type]
        if over_collection and not prefix:
            target.delete_tree(to_prefix)
        elif replaced is not None and prefix:
            target.handle.delete(to_key.rstrip("/"))
        return EmptyResponse(204 if existed else 201, {"Content-Length": "0"})
