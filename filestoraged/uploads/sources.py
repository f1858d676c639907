"""Where an upload's bytes come from: the raw body, or the ``file`` part of a
``multipart/form-data`` body (what ``curl -F file=@x`` and browsers send),
with the upload page's other fields read around it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Optional

from ..errors import BadRequest
from ..wire.fields import refuse_unknown
from ..web.messages import Request
from ..base.header_values import media_type
from ..wire.multipart import MultipartReader, Part, boundary_of
from ..storage.interface import Readable

# Room for boundaries, part headers and small fields around a file part that
# may itself be as large as the size limit.
MULTIPART_OVERHEAD = 64 * 1024
# Raw bodies with these types are still stored as they are, without a type.
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


@dataclass
class IncomingFile:
    stream: Readable
    content_type: Optional[str]
    filename: Optional[str] = None


TOKEN_FIELD_LIMIT = 1024  # bytes of the form's token field


def multipart_parts(request: Request, max_size: int) -> Optional[Iterator[Part]]:
    """The parts of a multipart body, or None if the body is not multipart.
    When the request's token is to come in the form (``Grant.form_need``), the
    first part must be ``token`` and pass, before any other part is read."""
    boundary = boundary_of(request.headers.get("Content-Type", ""))
    if boundary is None:
        return None
    parts = MultipartReader(request.body(max_size + MULTIPART_OVERHEAD), boundary).parts()
    if request.grant.form_need is None:
        return parts
    return _after_form_token(request, parts)


def _after_form_token(request: Request, parts: Iterator[Part]) -> Iterator[Part]:
    first = next(parts, None)
    token = first.read_text(TOKEN_FIELD_LIMIT).strip() if first is not None and first.name == "token" else None
    request.grant.from_form(token or None)  # 401, 403 or 429 before the file is read
    if first is not None and first.name != "token":
        yield first  # a check that asks for no token (none does today) keeps the part
    yield from parts


def raw_upload(request: Request, max_size: int) -> IncomingFile:
    """The body as it is; its Content-Type is kept unless it is a form type
    (``BadRequest`` before any byte is read if it is not a valid media type)."""
    content_type = media_type(request.headers.get("Content-Type"), "Content-Type")
    if content_type and content_type.split(";")[0].strip().lower() in _FORM_TYPES:
        content_type = None
    return IncomingFile(request.body(max_size), content_type)


# What a plain upload's form may carry besides ``file``: the upload page's
# form has them all (its plain button posts the same form); a plain upload
# has no password or limits, so their values are read and dropped.
PAGE_FIELDS = ("file", "password", "max_downloads", "expires_in", "token")


class FormFile:
    """The ``file`` part of a form, read as an upload's stream, whose end is
    the end of the whole form: the parts after it are read and handed to
    ``take`` (which raises for a field it refuses) before the last
    ``readinto`` answers 0. A backend publishes an object only after its
    stream ended, so a form refused for a field after its file stores
    nothing."""

    def __init__(self, part: Part, rest: Iterator[Part], take: Callable[[Part], None]) -> None:
        self.part = part
        self._rest = rest
        self._take = take
        self._ended = False

    def readinto(self, buffer: memoryview) -> int:
        count = self.part.readinto(buffer)
        if not count and not self._ended:
            self._ended = True
            for part in self._rest:
                self._take(part)
        return count


def _page_field(part: Part) -> None:
    if part.name == "file":
        raise BadRequest("more than one 'file' part")
    if part.name not in PAGE_FIELDS:
        refuse_unknown("form field", part.name or "", PAGE_FIELDS)
    part.drain()


def file_or_raw_upload(request: Request, max_size: int) -> IncomingFile:
    """The ``file`` part of a multipart body (the upload page's other fields,
    before or after it, are skipped; any other field is a 400 naming it), or
    the raw body."""
    parts = multipart_parts(request, max_size)
    if parts is None:
        return raw_upload(request, max_size)
    for part in parts:
        if part.name == "file":
            return IncomingFile(FormFile(part, parts, _page_field),
                          media_type(part.content_type, "the file part's Content-Type"), part.filename)
        _page_field(part)
    raise BadRequest("the multipart body has no 'file' part")
