"""The keys a person chose in a folder, downloaded as one zip: written as
it is sent (``web.messages.StreamResponse``), each object's bytes read
through its checks, so a zip of any size is never whole in memory and a
stored copy that fails its check cuts the download instead of ending it
(the browser says it failed; nobody unpacks a wrong file).

The zip is stored, not compressed (most of what people keep is compressed
already, and the bytes go out at the speed of a download), with ZIP64
where a file or the whole needs it. A member's name is its key below the
folder shown, with nothing an unpacking tool could take for a way out of
its folder (``..``, ``.``, empty segments, a leading ``/``).
"""

from __future__ import annotations

import time
import zipfile
from typing import Callable, Iterable, Iterator, List, Set, Tuple

from ..storage.interface import StoredObject

ZIP_TYPE = "application/zip"
MOST_KEYS = 1000  # keys one zip takes: a folder page's worth, with room


class _Sink:
    """Where ``zipfile`` writes: kept until ``take`` hands the bytes on
    (no ``seek``, so ``zipfile`` writes each member's sizes after its data)."""

    def __init__(self) -> None:
        self._pending = bytearray()
        self._written = 0

    def write(self, data) -> int:
        self._pending += data
        self._written += len(data)
        return len(data)

    def tell(self) -> int:
        return self._written

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = bytes(self._pending)
        self._pending.clear()
        return data


def member_name(key: str, folder: str, taken: Set[str]) -> str:
    """The name ``key`` has in a zip of ``folder`` (below it, safe to
    unpack, and not one ``taken`` already: then `` (2)``, `` (3)``, …
    before its extension)."""
    inside = key[len(folder):] if key.startswith(folder) else key
    parts = [part for part in inside.replace("\\", "/").split("/") if part not in ("", ".", "..")]
    name = "/".join(parts) or "file"
    stem, dot, extension = name.rpartition(".") if "." in name.rsplit("/", 1)[-1] else (name, "", "")
    number, chosen = 1, name
    while chosen in taken:
        number += 1
        chosen = "%s (%d)%s%s" % (stem, number, dot, extension)
    taken.add(chosen)
    return chosen


def zipped(members: Iterable[Tuple[str, float, Callable[[], StoredObject]]]) -> Iterator[bytes]:
    """The zip of ``(name, modified, open)`` members, in pieces as it is
    written; each object opened only when its turn comes."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, modified, open_stored in members:
            info = zipfile.ZipInfo(name, _zip_time(modified))
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            with open_stored() as stored:
                stored.preflight()
                with archive.open(info, "w", force_zip64=stored.info.size >= 0x7FFFFFFF) as out:
                    for chunk in stored.chunks():
                        out.write(chunk)
                        yield sink.take()
            yield sink.take()
    yield sink.take()


def _zip_time(modified: float) -> Tuple[int, int, int, int, int, int]:
    """A zip's date (UTC; it keeps no zone), within what it can say (1980-2107)."""
    stamp: List[int] = list(time.gmtime(max(modified, 315532800))[:6])
    return (min(stamp[0], 2107),) + tuple(stamp[1:])  # type: ignore[return-value]
