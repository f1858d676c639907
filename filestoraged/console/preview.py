"""What an object's page shows of it (``object_view.preview_card``): by its
stored type, a picture, sound or film (loaded from the preview route,
which serves it sandboxed), a PDF (opened in the browser's viewer, also
sandboxed), or the start of a text, read through the object's checks and
shown as escaped text, never as markup. Anything else has no preview."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from ..errors import CorruptObject
from ..storage.interface import StoredObject

TEXT_BYTES = 64 * 1024  # the start of a text a page shows
TEXT_TYPES = frozenset(("application/json", "application/xml", "application/x-yaml", "application/yaml",
                        "application/toml", "application/javascript", "application/x-sh"))


@dataclass(frozen=True)
class Preview:
    kind: str  # image, video, audio, pdf or text
    text: str = ""  # the start of a text
    cut: bool = False  # the text goes on past what is shown


def kind_of(content_type: Optional[str]) -> Optional[str]:
    """The kind of preview an object of ``content_type`` has (None: none)."""
    base = (content_type or "").split(";", 1)[0].strip().lower()
    if base.startswith(("image/", "video/", "audio/")):
        return base.split("/", 1)[0]
    if base == "application/pdf":
        return "pdf"
    if base.startswith("text/") or base in TEXT_TYPES or base.endswith(("+json", "+xml")):
        return "text"
    return None


def preview_of(content_type: Optional[str], size: int, open_stored: Callable[[], StoredObject]
               ) -> Optional[Preview]:
    """The object's preview; a text's first ``TEXT_BYTES`` read (and
    checked) now. None where it has none, or where its text is not text
    (a NUL byte) or its stored copy fails its check (the download says so)."""
    kind = kind_of(content_type)
    if kind is None or not size:
        return None
    if kind != "text":
        return Preview(kind)
    end = min(size, TEXT_BYTES)
    try:
        with open_stored() as stored:
            data = b"".join(stored.chunks(0, end))
    except CorruptObject:
        return None
    if b"\0" in data:
        return None
    if end < size:  # a character cut at the end is dropped, not shown as a replacement
        data = data[:len(data) - _cut_at_end(data)]
    return Preview("text", data.decode("utf-8", "replace"), end < size)


def _cut_at_end(data: bytes) -> int:
    """How many bytes at the end of ``data`` are a UTF-8 character cut short (0: none)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 != 0x80:  # the last character's first byte: is the character whole?
            need = 1 if byte < 0x80 else 2 if byte >> 5 == 0b110 else 3 if byte >> 4 == 0b1110 else 4
            return back if need > back else 0
    return 0
