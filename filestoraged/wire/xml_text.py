"""Text written into the XML the daemon answers (S3's documents, WebDAV's
multistatus): every value escaped for character data and for an
attribute in double quotes, and what XML 1.0 cannot carry as it is.

A carriage return is written ``&#13;``: a parser reads a bare one as a
line feed (XML's end-of-line handling), which would give a client another
key than the one stored (S3's documentation asks for the reference). The
characters XML 1.0 has no place for (the C0 controls but tab, line feed
and carriage return; U+FFFE, U+FFFF; a lone surrogate) cannot be written
in a document every parser takes. Where the text names something a client
acts on (an S3 key), they are written as character references, which a
lenient parser reads back exactly (a client reads such keys exactly by
asking for ``encoding-type=url``); where it is only shown (a WebDAV
``displayname``: the ``href`` beside it is percent-encoded and exact),
``shown`` puts U+FFFD in their place, so that one name never makes a
whole listing unreadable.
"""

from __future__ import annotations

import re
from xml.sax.saxutils import escape

_QUOTE = {'"': "&quot;"}
_NOT_XML = "\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff"  # what XML 1.0 cannot carry
_REFERENCED = re.compile("[\r%s]" % _NOT_XML)
_UNWRITABLE = re.compile("[%s]" % _NOT_XML)
# Most values need nothing: one scan in C tells, and they go out as they are.
_PLAIN = re.compile("[^&<>\r%s]*" % _NOT_XML)
_PLAIN_QUOTED = re.compile('[^&<>"\r%s]*' % _NOT_XML)


def escaped(text: str) -> str:
    """``text`` as character data: ``&``, ``<`` and ``>`` escaped, a
    carriage return and what XML 1.0 cannot carry as references."""
    if _PLAIN.fullmatch(text):
        return text
    return _referenced(escape(text))


def quoted(text: str) -> str:
    """``escaped``, and double quotes too: an attribute's value in double
    quotes (WebDAV's answers write every value so)."""
    if _PLAIN_QUOTED.fullmatch(text):
        return text
    return _referenced(escape(text, _QUOTE))


def shown(text: str) -> str:
    """``quoted``, but what XML 1.0 cannot carry shown as U+FFFD: the
    document stays one every parser reads."""
    if _PLAIN_QUOTED.fullmatch(text):
        return text
    return quoted(_UNWRITABLE.sub("\ufffd", text))


def _referenced(text: str) -> str:
    if _REFERENCED.search(text) is None:
        return text
    return _REFERENCED.sub(lambda found: "&#%d;" % ord(found.group()), text)
