"""An S3 upload's body as the object's bytes, checked on the way.

How the body is framed comes from ``x-amz-content-sha256``, never from
``Content-Encoding`` (restic's minio-go sends signed chunks over plain HTTP
without ``aws-chunked``): a hex SHA-256 or ``UNSIGNED-PAYLOAD`` is the
bytes themselves; the ``STREAMING-`` values are ``aws-chunked``, each chunk
``<hex size>[;chunk-signature=<sig>]\\r\\n<bytes>\\r\\n``, the last one empty,
with trailing headers (``x-amz-checksum-*``, and their signature) for the
``-TRAILER`` ones. The framing is taken off as the bytes pass: it is never
part of the object. Every chunk signature is checked (when the request's
own signature was) before the next chunk is read; none of the bytes is
published before the whole body was checked (``Backend.put`` publishes
after its ``hashed``, which ``Checked.verify`` is).

What is checked, in the one pass the object's SHA-256 makes: the MD5 (the
ETag; ``Content-MD5``), a hex ``x-amz-content-sha256`` (it is the object's
id: it costs nothing), and every checksum a client states, as headers or
trailers (``x-amz-checksum-crc32``, ``-sha1`` or ``-sha256``; one of
another algorithm is refused, a trailer that was not announced too). The
MD5 and those checksums are taken on a thread beside the reader's
(``base.beside``). ``Content-Encoding: aws-chunked`` with
``UNSIGNED-PAYLOAD`` is refused: the framing would become the object.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import Dict, List, Optional, Sequence, Tuple

from ..base.beside import DigestsBeside
from ..base.streams import fill
from ..errors import BadRequest, NotImplementedHere, TooLarge
from ..wire.sigv4 import chunk_signature, matches, trailer_signature
from .checksums import ALGORITHMS, CHECKSUM, REFUSED, SUMS, known, sha256_of
from .signatures import Caller

UNSIGNED = "UNSIGNED-PAYLOAD"
SIGNED_CHUNKS = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
# mode -> (chunked, signed chunks, trailer)
_MODES = {UNSIGNED: (False, False, False), SIGNED_CHUNKS: (True, True, False),
          UNSIGNED_TRAILER: (True, False, True), SIGNED_TRAILER: (True, True, True)}
_HEX = re.compile(r"[0-9a-f]{64}")
_CHUNK_HEAD = re.compile(rb"([0-9A-Fa-f]{1,16})(?:;chunk-signature=([0-9a-f]{64}))?\r\n")
_MAX_LINE = 1024
NO_PAYLOAD_HASH = ("a request signed without x-amz-content-sha256 is signed for an empty body: send the header, "
                   "UNSIGNED-PAYLOAD or the body's SHA-256 (curl: -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD')")
MAX_TRAILERS = 16


def framing_overhead(size: int) -> int:
    """Bytes the aws-chunked framing of ``size`` bytes may add (chunks of 8
    KiB at the smallest clients send, about 90 bytes of framing each)."""
    return size // 8192 * 100 + 64 * 1024


class AwsChunked:
    """The bytes of an ``aws-chunked`` body (``body``: the request's, its
    HTTP framing already taken off), each chunk's signature checked when
    ``caller`` holds the key; ``trailers`` once it ended."""

    def __init__(self, body, signed: bool, trailer: bool, caller: Caller, decoded: Optional[int], limit: int) -> None:
        self._body = body
        self._signed = signed and caller.key is not None
        self._trailer = trailer
        self._caller = caller
        self._previous = caller.claim.signature if caller.claim is not None else ""
        self._limit = limit
        self.decoded = decoded
        self.received = 0
        self._left = 0  # bytes of the current chunk not read yet
        self._signature: Optional[str] = None  # the current chunk's
        self._digest = hashlib.sha256()  # of the current chunk
        self._ended = False
        self.trailers: Dict[str, str] = {}
        self._line = bytearray()

    @property
    def left(self) -> Optional[int]:
        """Bytes still to come, when ``x-amz-decoded-content-length`` said."""
        return None if self.decoded is None else self.decoded - self.received

    def readinto(self, buffer: memoryview) -> int:
        while not self._ended:
            if self._left:
                count = self._body.readinto(buffer[:min(len(buffer), self._left)])
                if not count:
                    raise BadRequest("the body ended inside an aws-chunked chunk").as_s3("IncompleteBody")
                if self._signed:
                    self._digest.update(buffer[:count])
                self._left -= count
                self.received += count
                if self.received > self._limit:
                    raise TooLarge("the object is over the %d-byte limit" % self._limit).as_s3("EntityTooLarge")
                if not self._left:
                    self._end_chunk()
                return count
            self._next_chunk()
        return 0

    def _next_chunk(self) -> None:
        line = self._read_line()
        found = _CHUNK_HEAD.fullmatch(line)
        if found is None:
            raise BadRequest("not an aws-chunked chunk head: %r" % bytes(line[:60])).as_s3("InvalidRequest")
        size = int(found.group(1), 16)
        self._signature = found.group(2).decode() if found.group(2) else None
        if self._signed and self._signature is None:
            raise BadRequest("a chunk without its chunk-signature").as_s3("InvalidRequest")
        if self.received + size > self._limit:
            raise TooLarge("the object is over the %d-byte limit" % self._limit).as_s3("EntityTooLarge")
        self._digest = hashlib.sha256()
        self._left = size
        if size == 0:
            self._check_chunk()
            self._finish()

    def _end_chunk(self) -> None:
        if self._read_exact(2) != b"\r\n":
            raise BadRequest("an aws-chunked chunk is not followed by CRLF").as_s3("InvalidRequest")
        self._check_chunk()

    def _check_chunk(self) -> None:
        if not self._signed:
            return
        claim = self._caller.claim
        assert claim is not None and self._caller.key is not None
        expected = chunk_signature(self._caller.key, claim.stamp, claim.scope, self._previous,
                                   self._digest.hexdigest())
        if not matches(expected, self._signature or ""):
            raise BadRequest("a chunk's signature does not match").as_s3("SignatureDoesNotMatch")
        self._previous = expected

    def _finish(self) -> None:
        """After the empty last chunk: the trailers (if any), then the blank line."""
        lines: List[bytes] = []
        signature = None
        for _ in range(MAX_TRAILERS + 2):
            line = bytes(self._read_line())
            if line in (b"\r\n", b""):
                break
            name, sep, value = line.rstrip(b"\r\n").decode("latin-1").partition(":")
            if not sep:
                raise BadRequest("a bad aws-chunked trailer line").as_s3("InvalidRequest")
            name = name.strip().lower()
            if name == "x-amz-trailer-signature":
                signature = value.strip()
            else:
                self.trailers[name] = value.strip()
                lines.append(("%s:%s\n" % (name, value.strip())).encode("latin-1"))
        else:
            raise BadRequest("more than %d aws-chunked trailers" % MAX_TRAILERS).as_s3("InvalidRequest")
        if self._trailer and self._signed:
            claim = self._caller.claim
            assert claim is not None and self._caller.key is not None
            expected = trailer_signature(self._caller.key, claim.stamp, claim.scope, self._previous, b"".join(lines))
            if not matches(expected, signature or ""):
                raise BadRequest("the trailer's signature does not match").as_s3("SignatureDoesNotMatch")
        if self.decoded is not None and self.received != self.decoded:
            raise BadRequest("the body held %d bytes where x-amz-decoded-content-length said %d"
                             % (self.received, self.decoded)).as_s3("IncompleteBody")
        self._ended = True

    def _read_line(self) -> bytearray:
        line = bytearray()
        while not line.endswith(b"\n"):
            piece = self._read_exact(1)
            if not piece:
                return line
            line += piece
            if len(line) > _MAX_LINE:
                raise BadRequest("an aws-chunked line is too long").as_s3("InvalidRequest")
        return line

    def _read_exact(self, size: int) -> bytes:
        buffer = bytearray(size)
        return bytes(buffer[:fill(self._body, memoryview(buffer))])


class Digested:
    """A stream whose MD5 (and the checksums ``algorithms`` name) are taken
    as it is read, on a thread beside the reader's (``base.beside``);
    ``etag()`` and ``checksums(oid)`` once it ended. A context manager:
    leaving it ends that thread."""

    def __init__(self, stream, algorithms: Sequence[str] = ()) -> None:
        self._stream = stream
        self.md5 = hashlib.md5()
        self._computing = tuple(algorithms)
        self._sums = {name: SUMS[name]() for name in self._computing if name in SUMS}
        self._digests = DigestsBeside([self.md5, *self._sums.values()])

    def readinto(self, buffer: memoryview) -> int:
        count = self._stream.readinto(buffer)
        if count:
            self._digests.update(buffer[:count])
        return count

    def etag(self) -> str:
        """The MD5 of every byte read, in hex."""
        self._digests.finish()
        return self.md5.hexdigest()

    def _computed(self, algorithm: str, oid: str) -> str:
        self._digests.finish()
        if algorithm == "sha256":
            return sha256_of(oid)
        return base64.b64encode(self._sums[algorithm].digest()).decode("ascii")

    def checksums(self, oid: str) -> Dict[str, str]:
        """The checksums taken (base64), ``oid`` being the bytes' SHA-256 in hex."""
        return {name: self._computed(name, oid) for name in self._computing}

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self._digests.close()


class Checked(Digested):
    """The object's bytes, digested as they pass (see the module docstring);
    ``verify(oid)`` once they all did. ``also``: a checksum to take though
    the request states none (a part of an upload created with it); a
    request that states another is refused."""

    def __init__(self, stream, headers, declared_sha256: Optional[str], also: Optional[str] = None) -> None:
        self._declared = declared_sha256
        self._declared_by_default = "x-amz-content-sha256" not in headers
        self._content_md5 = _content_md5(headers.get("Content-MD5"))
        self.algorithms, self._expected = _checksums(headers)
        if also is not None and any(algorithm != also for algorithm in self.algorithms):
            raise BadRequest("the upload was created to be checked with %s: its parts state that checksum or none"
                             % also.upper()).as_s3("InvalidRequest")
        super().__init__(stream, self.algorithms or ((also,) if also else ()))

    @property
    def left(self) -> Optional[int]:
        left = getattr(self._stream, "left", None)
        return left if isinstance(left, int) else None

    def verify(self, oid: str) -> None:
        """Every check against the bytes read (``oid``: their SHA-256, hex):
        every digest the request stated, in a header or a trailer;
        ``BadRequest`` with S3's code for the first that fails."""
        self._digests.finish()
        if self._declared is not None and self._declared != oid:
            raise BadRequest(NO_PAYLOAD_HASH if self._declared_by_default else
                             "the body's SHA-256 is not x-amz-content-sha256's").as_s3("XAmzContentSHA256Mismatch")
        if self._content_md5 is not None and self._content_md5 != self.md5.digest():
            raise BadRequest("the body's MD5 is not Content-MD5's").as_s3("BadDigest")
        trailers = getattr(self._stream, "trailers", {})
        for name in trailers:
            if name.startswith(CHECKSUM) and name[len(CHECKSUM):] not in self.algorithms:
                raise BadRequest("the trailer %s was not announced in x-amz-trailer: it cannot be checked"
                                 % name[:60]).as_s3("InvalidRequest")
        for algorithm in self.algorithms:
            stated = [value for value in (self._expected.get(algorithm), trailers.get(CHECKSUM + algorithm))
                      if value is not None]
            if not stated:
                raise BadRequest("the trailer x-amz-checksum-%s never came" % algorithm).as_s3("InvalidRequest")
            computed = self._computed(algorithm, oid)
            if any(value != computed for value in stated):
                raise BadRequest("the %s you specified did not match the calculated checksum" % algorithm.upper()
                                 ).as_s3("BadDigest")

    def checked(self, oid: str) -> Dict[str, str]:
        """``verify(oid)``, then the checksums the key keeps: the checks a
        key's write runs (``catalog.handle.KeyWrite.store``)."""
        self.verify(oid)
        return self.checksums(oid)


def body_stream(request, caller: Caller, limit: int, also: Optional[str] = None):
    """The request's body as the object's bytes, checked (``Checked``;
    ``also``: a checksum to take though none is stated);
    ``BadRequest``/``TooLarge`` before a byte is read when its headers say so."""
    headers = request.headers
    mode = caller.payload or headers.get("x-amz-content-sha256") or UNSIGNED
    declared = None
    if _HEX.fullmatch(mode):
        declared, mode = mode, UNSIGNED
    if mode.startswith("STREAMING-AWS4-ECDSA"):
        raise NotImplementedHere("SigV4a (ECDSA) signatures are not taken here: sign with SigV4 (HMAC)")
    if mode not in _MODES:
        raise BadRequest("x-amz-content-sha256 is not a SHA-256 in hex or a payload mode S3 knows: %r"
                         % mode[:80]).as_s3("InvalidArgument")
    chunked, signed, trailer = _MODES[mode]
    if not chunked:
        # A body whose SHA-256 was stated is the object whatever the header
        # says (S3 takes it, and drops aws-chunked from the stored encoding);
        # an unsigned one might be framing that would become the object.
        if declared is None and "aws-chunked" in (headers.get("Content-Encoding") or "").lower():
            raise BadRequest("Content-Encoding says aws-chunked, but x-amz-content-sha256 names no STREAMING- "
                             "mode: the framing would become the object").as_s3("InvalidArgument")
        return Checked(request.body(limit), headers, declared, also)
    decoded = _decoded_length(headers.get("x-amz-decoded-content-length"))
    if decoded is not None and decoded > limit:
        raise TooLarge("the object is %d bytes; the limit is %d" % (decoded, limit)).as_s3("EntityTooLarge")
    body = request.body(limit + framing_overhead(limit))
    return Checked(AwsChunked(body, signed, trailer, caller, decoded, limit), headers, None, also)


def _decoded_length(value: Optional[str]) -> Optional[int]:
    if value is None:
        return None
    value = value.strip()
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise BadRequest("x-amz-decoded-content-length is not a number").as_s3("InvalidArgument")
    return int(value)


def _content_md5(value: Optional[str]) -> Optional[bytes]:
    if value is None:
        return None
    try:
        digest = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != 16:
        raise BadRequest("Content-MD5 is not the base64 of 16 bytes").as_s3("InvalidDigest")
    return digest


# The headers that name a checksum (``_checksums``): most small PUTs send none.
_NAMING_CHECKSUMS = frozenset(["x-amz-trailer", "x-amz-sdk-checksum-algorithm"]
                              + [CHECKSUM + name for name in ALGORITHMS + REFUSED])


def _checksums(headers) -> Tuple[Tuple[str, ...], Dict[str, str]]:
    """``(algorithms, stated)``: every checksum the request names, as a
    header (its value in ``stated``), in ``x-amz-trailer`` (its value comes
    with the trailers) or in ``x-amz-sdk-checksum-algorithm`` alone (a
    trailer then too). An algorithm not computed here is refused."""
    if not headers.has_any(_NAMING_CHECKSUMS):
        return (), {}
    names = [name.strip().lower() for name in (headers.get("x-amz-trailer") or "").split(",") if name.strip()]
    names += [CHECKSUM + name for name in ALGORITHMS + REFUSED if (CHECKSUM + name) in headers]
    asked = (headers.get("x-amz-sdk-checksum-algorithm") or "").strip().lower()
    if asked and not names:
        names = [CHECKSUM + asked]
    algorithms: List[str] = []
    for name in names:
        algorithm = known(name[len(CHECKSUM):] if name.startswith(CHECKSUM) else name, "the request")
        if algorithm not in algorithms:
            algorithms.append(algorithm)
    stated = {name: headers.get(CHECKSUM + name) for name in algorithms if headers.get(CHECKSUM + name) is not None}
    return tuple(algorithms), stated
