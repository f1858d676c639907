"""``/uploads``: resumable uploads with tus 1.0.0 (the protocol of tusd,
Uppy, tus-js-client and tuspy), extensions creation, creation-with-upload,
termination and expiration.

- ``POST /uploads`` with ``Upload-Length`` and ``Upload-Metadata`` (see
  ``metadata``: ``target`` names where the bytes go) creates one:
  ``201`` and its URL in ``Location`` (128 random bits: unguessable).
- ``HEAD`` of the URL: ``Upload-Offset``, the bytes kept (what a restart
  keeps); ``PATCH`` with ``Upload-Offset`` and an
  ``application/offset+octet-stream`` body appends (another offset is a
  ``409``; a second writer waits up to 2 s for the first to let go, then
  gets a ``423``); ``DELETE`` drops it.
- After the last byte the object is stored as its target face would store
  a single upload, and ``GET`` of the URL answers that face's JSON (a share
  link's delete token only there).

Access is the target face's: every request on an upload needs the scope a
single upload to its target needs (``--auth writes``: ``files:write``,
``data:<repo>:write`` or ``share:create``), checked with the request's own
token. Unfinished uploads count against ``--max-bytes``, expire a day after
their last byte (``Upload-Expires``) and one client address holds at most
``store.MAX_PER_CLIENT`` of them.
"""

from __future__ import annotations

import logging
from contextlib import closing
from typing import Dict, Union

from ..errors import (BadRequest, Conflict, FileStoreError, PreconditionFailed, QuotaReached, TooLarge,
                      UnsupportedMediaType)
from ..faces import Face
from ..storage.interface import FinishedFile
from ..uploads.targets import Target, from_record
from ..web.messages import EmptyResponse, JsonResponse, Request
from ..web.router import Router
from ..wire.credentials import header_text
from ..wire.fields import whole_number
from ..wire.response_head import date_text
from .metadata import parse_metadata, shown_metadata, target_of
from .uploads import ResumableUpload, UploadStore, Uploads, Writer

VERSION = "1.0.0"
EXTENSIONS = "creation,creation-with-upload,termination,expiration"
CHUNK_TYPE = "application/offset+octet-stream"

log = logging.getLogger(__name__)


class ResumableFace(Face):
    def __init__(self, app) -> None:
        super().__init__(app)
        self.uploads: Uploads = app.uploads
        if isinstance(self.uploads, UploadStore):  # (on this daemon's disk: where quotas are kept)
            self.uploads.removed = self._ended

    def register(self, router: Router) -> None:
        # No scope on the routes: an upload's scope is its target's, which
        # only the request (or the upload's record) names; each handler asks.
        router.add("/uploads", "uploads", {"POST": self.create, "OPTIONS": self.options},
                   {"POST": None, "OPTIONS": None})
        router.add("/uploads/{upload_id}", "uploads",
                   {"HEAD": self.head, "PATCH": self.patch, "DELETE": self.terminate, "GET": self.result},
                   {"HEAD": None, "PATCH": None, "DELETE": None, "GET": None}, head=False)

    def options(self, request: Request) -> EmptyResponse:
        return EmptyResponse(204, {"Tus-Resumable": VERSION, "Tus-Version": VERSION, "Tus-Extension": EXTENSIONS,
                                   "Tus-Max-Size": str(self.config.max_size)})

    def create(self, request: Request) -> EmptyResponse:
        _speaks_tus(request)
        if "Upload-Defer-Length" in request.headers:
            raise BadRequest("Upload-Defer-Length is not supported: send Upload-Length")
        length = _number(request, "Upload-Length", required=True)
        if length > self.config.max_size:
            raise TooLarge("Upload-Length %d is over the %d-byte limit" % (length, self.config.max_size))
        raw_metadata = header_text(request.headers, "Upload-Metadata")
        metadata = parse_metadata(raw_metadata)
        target = target_of(metadata, self.app, request.grant)
        request.grant.require(target.need())
        target.begin(length)
        try:
            upload = self.uploads.create(length, target.for_record().record(), shown_metadata(raw_metadata),
                                         request.client, self._check_quota)
        except BaseException:
            target.end()
            raise
        if target.namespace is not None:
            try:  # its whole length, against its bucket's quota: unfinished, it counts
                self.backend.hold(target.namespace, _holder(upload.id), length)
            except BaseException:
                self.uploads.remove(upload)
                raise
        headers = {"Location": "%s/uploads/%s" % (request.base_url, upload.id)}
        if _content_type(request) == CHUNK_TYPE or length == 0:  # creation-with-upload
            headers["Upload-Offset"] = str(self._append(request, upload, 0))
        return EmptyResponse(201, self._headers(upload, headers))

    def head(self, request: Request, upload_id: str) -> EmptyResponse:
        _speaks_tus(request)
        upload = self._upload(request, upload_id)
        headers = {"Upload-Offset": str(self.uploads.offset(upload)), "Upload-Length": str(upload.length),
                   "Cache-Control": "no-store"}
        if upload.metadata:
            headers["Upload-Metadata"] = upload.metadata
        return EmptyResponse(200, self._headers(upload, headers))

    def patch(self, request: Request, upload_id: str) -> EmptyResponse:
        _speaks_tus(request)
        if _content_type(request) != CHUNK_TYPE:
            raise UnsupportedMediaType("a PATCH body is Content-Type: %s" % CHUNK_TYPE)
        offset = _number(request, "Upload-Offset", required=True)
        upload = self._upload(request, upload_id)
        return EmptyResponse(204, self._headers(upload, {"Upload-Offset": str(self._append(request, upload, offset))}))

    def terminate(self, request: Request, upload_id: str) -> EmptyResponse:
        _speaks_tus(request)
        upload = self._upload(request, upload_id)
        with self.uploads.writing(upload) as writer:  # not under a running PATCH (423)
            self.uploads.remove(writer.upload)
        return EmptyResponse(204, {"Tus-Resumable": VERSION})

    def result(self, request: Request, upload_id: str) -> JsonResponse:
        """What the target face answered, once every byte is in (a ``409``
        saying how many are while some are missing)."""
        upload = self._upload(request, upload_id)
        if upload.result is None:
            offset = self.uploads.offset(upload)
            if offset < upload.length:
                raise Conflict("the upload has %d of its %d bytes" % (offset, upload.length))
            with self.uploads.writing(upload) as writer:  # a stop between the last byte and its answer
                upload = writer.upload
                if upload.result is None:  # not finished by another request meanwhile
                    self._finish(request, upload, writer)
        assert upload.result is not None
        return JsonResponse(200, upload.result, {"Cache-Control": "no-store"})

    # -- the steps ----------------------------------------------------------------

    def _upload(self, request: Request, upload_id: str) -> ResumableUpload:
        upload = self.uploads.get(upload_id)
        request.grant.require(self._target(upload).need())
        return upload

    def _target(self, upload: ResumableUpload) -> Target:
        return from_record(self.app, upload.target)

    def _append(self, request: Request, upload: ResumableUpload, offset: int) -> int:
        """Append the body at ``offset``; store the object once the last byte is
        in. The new offset."""
        if upload.result is not None:
            return self._append_to_finished(request, upload, offset)
        with self.uploads.writing(upload) as writer:
            upload = writer.upload
            if upload.result is not None:  # finished by another request meanwhile
                return self._append_to_finished(request, upload, offset)
            kept = writer.kept
            if offset != kept:
                raise Conflict("Upload-Offset is %d but the upload has %d bytes" % (offset, kept))
            left = upload.length - kept
            if _has_body(request):
                kept += writer.append(request.body(left + 1), left)  # one byte more: a longer body is 413
            if kept == upload.length:
                self._finish(request, upload, writer)
        return kept

    @staticmethod
    def _append_to_finished(request: Request, upload: ResumableUpload, offset: int) -> int:
        if offset == upload.length and not _has_body(request):
            return offset  # the last PATCH again: its answer was lost
        raise Conflict("the upload is complete")

    def _finish(self, request: Request, upload: ResumableUpload, writer: Writer) -> None:
        """The last byte is in: the bytes go where the target says, and the
        upload keeps what a single upload to that face would have answered.
        A target that refuses for good (``PreconditionFailed``: an S3 key an
        append-only token may not replace came meanwhile) ends the upload,
        its bytes gone; another failure keeps it, to be asked again."""
        target = self._target(upload)
        try:
            with closing(writer.finished()) as source:
                if isinstance(source, FinishedFile):
                    source.held_as = _holder(upload.id)  # the object's write takes its hold over
                stored = target.store(source)
        except PreconditionFailed:
            self.uploads.remove(writer.upload)
            raise
        self.uploads.finish(upload, target.result(stored, request.base_url))
        self._released(upload.id)  # (where the write stored nothing: its bytes were there)

    def _released(self, upload_id: str) -> None:
        """An upload's hold on its bucket's quota given back (it ended)."""
        self.backend.release(_holder(upload_id))

    def _ended(self, upload: ResumableUpload) -> None:
        """An upload removed (ended, expired, given up): what it and its
        target held given back (an upload link's file, where its bytes
        were never stored)."""
        self._released(upload.id)
        if upload.result is None:
            try:
                self._target(upload).end()
            except FileStoreError as error:  # its link or bucket went meanwhile: nothing held there
                log.info("upload %s ended; its target holds nothing: %s", upload.id, error)

    def _check_quota(self, pending: int) -> None:
        """Unfinished uploads (``pending`` bytes, the new one included) count
        against ``--max-bytes`` for their whole length."""
        limit = self.config.max_bytes
        usage = self.backend.usage() if limit else None
        if usage is not None and usage[1] + pending > limit:
            raise QuotaReached("the %d-byte storage quota has no room for %d bytes of unfinished uploads"
                                      % (limit, pending))

    def _headers(self, upload: ResumableUpload, headers: Dict[str, str]) -> Dict[str, str]:
        headers["Tus-Resumable"] = VERSION
        headers["Upload-Expires"] = date_text(int(self.uploads.expires_at(upload)))
        return headers


def _holder(upload_id: str) -> str:
    """An upload's hold on its bucket's quota (``storage.disk.quota.BucketHold``)."""
    return "tus:" + upload_id


def _speaks_tus(request: Request) -> None:
    if request.headers.get("Tus-Resumable") != VERSION:
        raise PreconditionFailed(VERSION, "send Tus-Resumable: %s" % VERSION)


def _content_type(request: Request) -> str:
    return (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()


def _has_body(request: Request) -> bool:
    return "Transfer-Encoding" in request.headers or (request.headers.get("Content-Length") or "0").strip() != "0"


def _number(request: Request, name: str, required: bool) -> int:
    value: Union[str, None] = request.headers.get(name)
    if value is None and required:
        raise BadRequest("%s is required" % name)
    return whole_number(value, name, 0, 0, 2 ** 62)
