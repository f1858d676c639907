"""``/file``: share links with an optional password, limited downloads and expiry.

Upload with ``PUT`` or ``POST`` (multipart: ``file``, ``password``,
``max_downloads``, ``expires_in``), or transfer.sh's way, a raw ``PUT
/file/NAME`` (``upload_named``); download with ``GET /file/<id>`` (password
as ``?password=``, ``X-Password`` or HTTP Basic); delete with the
``X-Delete-Token`` the upload answered. A GET either gets the file (or the
range it asked for) and spends a download when that transfer completes, or
gets the landing page and spends nothing (``previews`` says which).
"""

from __future__ import annotations

import re
from typing import Dict, Optional
from urllib.parse import parse_qs, unquote

from ..access.scopes import Need, Scope
from ..base.header_values import file_name, media_type
from ..errors import BadRequest, MethodNotAllowed, NotFound, Unauthorized
from ..pages.share import landing_page
from ..sharing.rules import MAX_DOWNLOADS
from ..storage.names import SHARES
from ..uploads.sources import FormFile, multipart_parts, raw_upload
from ..uploads.targets import ShareTarget, Terms, terms_of
from ..web.messages import JsonResponse, ObjectResponse, Request, Response, TextResponse
from ..web.router import Router
from ..wire.accept import accepts, prefers_html
from ..wire.browser import attachment, same_origin
from ..wire.credentials import basic_password, header_text
from ..wire.fields import refuse_unknown, whole_number
from ..wire.multipart import boundary_of
from . import Face
from .previews import landing_only

_LINK_ID = re.compile(r"[A-Za-z0-9_-]{32}")
_FIELD_LIMIT = 1024  # bytes in a text field
DAY = 24 * 3600
FORM_FIELDS = ("file", "password", "max_downloads", "expires_in", "token")


class ShareFace(Face):
    def __init__(self, app) -> None:
        super().__init__(app)
        self.shares = app.shares

    def register(self, router: Router) -> None:
        create = Need(Scope("share", "create"), form=True)
        router.add("/file", "file", {"PUT": self.upload, "POST": self.upload}, {"PUT": create, "POST": create})
        # A link is its own secret: downloading it, and its landing page's
        # password form, ask for no token; nor does a delete with its token.
        router.add("/file/{link_id}", "file", {"GET": self.download, "POST": self.download_form,
                                               "DELETE": self.delete, "PUT": self.upload_named},
                   {"GET": None, "POST": None, "DELETE": Need(Scope("share", "delete"), unless="X-Delete-Token"),
                    "PUT": create}, query=("download", "password"))


    def upload(self, request: Request) -> Response:
        parts = multipart_parts(request, self.config.max_size)
        if parts is None:
            raise BadRequest("upload with multipart/form-data and a 'file' part")
        fields: Dict[str, str] = {}

        def take(part) -> None:
            if part.name == "file":
                raise BadRequest("more than one 'file' part")
            if part.name in ("password", "max_downloads", "expires_in"):
                fields[part.name] = part.read_text(_FIELD_LIMIT)
                terms_of(fields, self.config)  # refuse bad values before a file part streams in
            elif part.name == "token":  # the upload page's field (its token travels in Authorization)
                part.read_text(_FIELD_LIMIT)
            else:
                refuse_unknown("form field", part.name or "", FORM_FIELDS)

        for part in parts:
            if part.name == "file":
                break
            take(part)
        else:
            raise BadRequest("the form has no 'file' part")
        target = ShareTarget(self.app, file_name(part.filename, "the file part's filename"),
                             media_type(part.content_type, "the file part's Content-Type"),
                             lambda: terms_of(fields, self.config, request.grant.holder()))
        # The fields after the file are read before its end: a refused one stores nothing.
        return target.answer(target.store(FormFile(part, parts, take)), request)

    def upload_named(self, request: Request, link_id: str):
        """transfer.sh's one-liner, ``curl --upload-file ./report.pdf
        https://host/file/report.pdf``: the raw body is the file and the last
        path segment its name; ``Max-Downloads``, ``Max-Days`` (transfer.sh's
        names) and ``X-Password`` set the limits. The answer is the link's
        URL as one line of text (JSON when the client asks for it), with
        ``X-Delete-Token`` and ``X-Expires-At``. A multipart body sent here
        is the form upload, as to ``/file``."""
        if request.query:  # ?password= would be dropped (and logged by proxies): refused, by name
            for name in request.query:
                refuse_unknown("query parameter on an upload (send X-Password, Max-Downloads, Max-Days)",
                               name, ())
        if boundary_of(request.headers.get("Content-Type", "")) is not None:
            return self.upload(request)
        try:
            filename = file_name(unquote(link_id, errors="strict"), "the file name in the URL")
        except UnicodeDecodeError:
            raise BadRequest("the file name in the URL is not UTF-8") from None
        for name in ("Max-Downloads", "Max-Days", "X-Password"):
            if request.headers.get(name) is not None and not request.headers[name].strip():
                raise BadRequest("%s is empty: give a value or leave the header out" % name)
        max_downloads = whole_number(header_text(request.headers, "Max-Downloads"), "Max-Downloads", 1, 1,
                                     MAX_DOWNLOADS)
        longest = max(1, self.config.share_max_expiry // DAY)
        days = whole_number(header_text(request.headers, "Max-Days"), "Max-Days", 0, 1, longest)
        expires_in = min(days * DAY, self.config.share_max_expiry) if days else self.config.share_default_expiry
        terms = Terms(header_text(request.headers, "X-Password") or None, max_downloads, expires_in,
                      maker=request.grant.holder())
        upload = raw_upload(request, self.config.max_size)
        target = ShareTarget(self.app, filename, upload.content_type, lambda: terms)
        result = target.result(target.store(upload.stream), request.base_url)
        if accepts(request.headers, "application/json"):
            return JsonResponse(201, result, target.headers(result))
        return TextResponse(201, str(result["url"]) + "\n", headers=target.headers(result))

    def download(self, request: Request, link_id: str):
        link = self.shares.get(_link_id(link_id))
        self.shares.check_alive(link)
        if landing_only(request.headers, request.query):  # see previews: the page never counts
            return landing_page(link)
        self.shares.check_password(link, _password(request))
        return self._send(request, link)

    def download_form(self, request: Request, link_id: str):
        """The landing page's password form: the password in a urlencoded
        body (never in the URL, where logs and history keep it). Only the
        page's own form, from our origin, may POST: the share-link contract allows GET and
        PUT on a link (other methods are 405), and a form on another site
        must not spend a visitor's download."""
        if not same_origin(request.headers, request.base_url):
            raise MethodNotAllowed(["DELETE", "GET", "HEAD"], "POST is only for this link's own page")
        link = self.shares.get(_link_id(link_id))
        self.shares.check_alive(link)
        form = parse_qs(request.body(_FIELD_LIMIT).read_all().decode("utf-8", "replace"), keep_blank_values=True)
        for name, values in form.items():
            if name != "password":
                refuse_unknown("form field", name, ("password",))
            if len(values) > 1:
                raise BadRequest("the form gives password more than once")
        try:
            self.shares.check_password(link, form.get("password", [None])[0])
        except Unauthorized as error:
            if not prefers_html(request.headers):
                raise
            return landing_page(link, error.text.capitalize() + ".", 401)
        return self._send(request, link)

    def _send(self, request: Request, link) -> ObjectResponse:
        headers = {
            "Content-Disposition": attachment(link.filename),
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",  # the link is the secret: never pass it on
        }
        # A Range is honoured (206, exactly those bytes) and, like any GET that
        # gets bytes of the file, spends a download when its transfer completes.
        if request.method == "HEAD":  # never counts
            return ObjectResponse(self.backend.open(SHARES, link.oid), headers, None, link.content_type,
                                  ranges=True, immutable=False)
        spending = Spending(self.shares, link, self.shares.reserve(link.id))
        try:
            obj = self.backend.open(SHARES, link.oid)
        except BaseException:
            spending.done(False)
            raise
        return ObjectResponse(obj, headers, spending.done, link.content_type, ranges=True, immutable=False,
                              before_last=spending.count)

    def delete(self, request: Request, link_id: str) -> JsonResponse:
        link_id = _link_id(link_id)
        oid = self.shares.delete(link_id, request.headers.get("X-Delete-Token"),
                                 any_link=request.grant.may(Scope("share", "delete")))
        self.shares.wake_sweeper(oid)
        return JsonResponse(200, {"deleted": link_id})


class Spending:
    """One transfer of a link's bytes, holding a reservation (``ticket``). It
    is counted once everything but its last piece went out (``count``,
    before that piece leaves): so a daemon killed after its last byte and
    before its count cannot give the download twice. If the last piece then
    fails to leave, the count is given back (``done(False)``)."""

    def __init__(self, shares, link, ticket: str) -> None:
        self.shares, self.link_id, self.oid, self.ticket = shares, link.id, link.oid, ticket
        self.counted = False
        self.used_up = False  # this download was the link's last: its blob may go

    def count(self) -> None:
        self.used_up = self.shares.finish(self.ticket, complete=True)
        self.counted = True

    def done(self, complete: bool) -> None:
        if not self.counted:
            # nothing sent (a 304, an error), or an empty file
            self.used_up = self.shares.finish(self.ticket, complete)
        elif not complete:
            self.shares.refund(self.ticket, self.link_id)
        if complete and self.used_up:
            self.shares.wake_sweeper(self.oid)


def _link_id(text: str) -> str:
    if not _LINK_ID.fullmatch(text):
        raise NotFound("no such link")
    return text


def _password(request: Request) -> Optional[str]:
    """From ``?password=``, ``X-Password`` or HTTP Basic (the user name is ignored)."""
    if "password" in request.query:
        return request.query["password"]
    header = header_text(request.headers, "X-Password")
    if header is not None:
        return header
    return basic_password(request.headers)


