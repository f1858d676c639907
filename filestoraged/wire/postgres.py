"""PostgreSQL's frontend/backend protocol (version 3.0) as a client, the
part the records need: a connection (TCP, TLS through ``ssl`` when asked),
sign-in (trust, password, MD5, and SCRAM-SHA-256 as RFC 5802 and 7677 say,
the server's signature checked), a statement with parameters in one round
trip (Parse, Bind, Execute, Sync: text in, text out), a plain statement
(``BEGIN``, ``COMMIT``), and the server's errors with their SQLSTATE.

What it answers: ``Result`` (the rows, each a tuple of text or None, and
the command's row count). A connection that cannot be made or is lost is
``BackendUnavailable`` (the caller opens another); an error the server
sends is ``ServerError`` (its SQLSTATE says what: a serialization failure,
a statement timeout), after which the connection is ready again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import select
import socket
import ssl
import struct
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from ..errors import BackendUnavailable

PROTOCOL = 196608  # 3.0
SSL_REQUEST = 80877103
TIMEOUT = 30.0  # seconds a read or write on the connection may take


class ServerError(Exception):
    """An ErrorResponse: ``code`` is its SQLSTATE, ``message`` its text."""

    def __init__(self, fields: Dict[str, str]) -> None:
        self.code = fields.get("C", "")
        self.message = fields.get("M", "")
        super().__init__("%s (SQLSTATE %s)" % (self.message, self.code))


@dataclass
class Result:
    rows: List[Tuple[Optional[str], ...]]
    count: int  # rows the command touched (its tag's last number), or returned


@dataclass(frozen=True)
class Address:
    """Where and as whom: ``host``, ``port``, ``database``, ``user``, the
    ``password`` (None: none), and ``tls`` (disable, prefer, require or
    verify-full, as libpq's sslmode; ``ca``: the authorities to trust)."""

    host: str
    port: int
    database: str
    user: str
    password: Optional[str] = None
    tls: str = "prefer"
    ca: Optional[str] = None
    options: str = ""  # run-time settings sent at start (``-c statement_timeout=10s``)


class Connection:
    def __init__(self, address: Address) -> None:
        self.address = address
        try:
            self._sock = socket.create_connection((address.host, address.port), TIMEOUT)
        except OSError as error:
            raise BackendUnavailable("the records' database at %s:%d does not answer: %s"
                                     % (address.host, address.port, error)) from None
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = bytearray()
        self.status = b"I"  # the transaction status ReadyForQuery last gave (I idle, T in one, E failed one)
        try:
            self._tls()
            self._start()
        except BaseException:
            self.close()
            raise

    # -- statements ---------------------------------------------------------------

    def query(self, sql: str, parameters: Sequence[Optional[str]] = ()) -> Result:
        """``sql`` with ``$1``… bound to ``parameters`` (text; None is NULL),
        in one round trip."""
        encoded = sql.encode("utf-8")
        bind = [struct.pack("!hh", 0, len(parameters))]
        for parameter in parameters:
            if parameter is None:
                bind.append(struct.pack("!i", -1))
            else:
                data = parameter.encode("utf-8")
                bind.append(struct.pack("!i", len(data)) + data)
        bind.append(struct.pack("!h", 0))
        self._send(_message(b"P", b"\0" + encoded + b"\0" + struct.pack("!h", 0))
                   + _message(b"B", b"\0\0" + b"".join(bind))
                   + _message(b"E", b"\0" + struct.pack("!i", 0)) + _message(b"S", b""))
        return self._results()

    def run(self, sql: str) -> Result:
        """A plain statement (no parameters): ``BEGIN``, ``COMMIT``, ``SET``."""
        self._send(_message(b"Q", sql.encode("utf-8") + b"\0"))
        return self._results()

    def spoke_while_idle(self) -> bool:
        """Whether the server said something, or hung up, while this
        connection sat idle between statements: it says nothing unasked but
        that it is going (a shutdown, a restart, an administrator's
        termination), so such a connection is not used again."""
        if self._buffer or (isinstance(self._sock, ssl.SSLSocket) and self._sock.pending()):
            return True
        watch = select.poll()  # (not select(): a busy daemon's descriptors pass 1,024)
        try:
            watch.register(self._sock, select.POLLIN)
            return bool(watch.poll(0))
        except (OSError, ValueError):  # (closed already)
            return True

    def close(self) -> None:
        try:
            self._sock.sendall(_message(b"X", b""))
        except OSError:
            pass
        self._sock.close()

    # -- the conversation ---------------------------------------------------------------

    def _results(self) -> Result:
        rows: List[Tuple[Optional[str], ...]] = []
        count, error = 0, None
        while True:
            kind, body = self._receive()
            if kind == b"D":
                rows.append(_row(body))
            elif kind == b"C":
                tag = body.rstrip(b"\0").split()
                count = int(tag[-1]) if tag and tag[-1].isdigit() else len(rows)
            elif kind == b"E":
                error = ServerError(_fields(body))
            elif kind == b"Z":
                self.status = body[:1]
                if error is not None:
                    raise error
                return Result(rows, count)
            # ParseComplete, BindComplete, NoData, notices, parameters: nothing to keep

    def _tls(self) -> None:
        mode = self.address.tls
        if mode == "disable":
            return
        try:
            self._sock.sendall(struct.pack("!ii", 8, SSL_REQUEST))
            answer = self._sock.recv(1)
        except OSError as error:
            raise BackendUnavailable("the records' database at %s does not answer: %s"
                                     % (self.address.host, error)) from None
        if answer != b"S":
            if mode in ("require", "verify-full"):
                raise BackendUnavailable("the records' database at %s does not speak TLS, and tls=%s asks for it"
                                         % (self.address.host, mode))
            return
        try:
            context = ssl.create_default_context(cafile=self.address.ca)
            if mode != "verify-full":  # as libpq's require: encrypted, the server not checked
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self._sock = context.wrap_socket(self._sock, server_hostname=self.address.host)
        except (ssl.SSLError, OSError) as error:  # (a certificate refused, an authority file not read)
            raise BackendUnavailable("TLS with the records' database at %s failed: %s"
                                     % (self.address.host, error)) from None

    def _start(self) -> None:
        parameters = {"user": self.address.user, "database": self.address.database,
                      "application_name": "filestoraged", "client_encoding": "UTF8"}
        if self.address.options:
            parameters["options"] = self.address.options
        body = struct.pack("!i", PROTOCOL) + b"".join(
            name.encode() + b"\0" + value.encode("utf-8") + b"\0" for name, value in parameters.items()) + b"\0"
        self._send(struct.pack("!i", len(body) + 4) + body)
        scram: Optional[_Scram] = None
        while True:
            kind, body = self._receive()
            if kind == b"E":
                error = ServerError(_fields(body))
                raise BackendUnavailable("the records' database refused the sign-in of %s: %s"
                                         % (self.address.user, error.message)) from None
            if kind == b"Z":
                self.status = body[:1]
                return
            if kind != b"R":
                continue  # parameters, the key to cancel with, notices
            code = struct.unpack("!i", body[:4])[0]
            if code == 0:
                continue
            password = self._password()
            if code == 3:
                if not isinstance(self._sock, ssl.SSLSocket):  # a password is never sent in the clear
                    raise BackendUnavailable("the records' database asks %s for the password in the clear, over a "
                                             "connection without TLS: use tls=require (or verify-full), or "
                                             "scram-sha-256 in its pg_hba.conf" % self.address.user)
                self._send(_message(b"p", password.encode("utf-8") + b"\0"))
            elif code == 5:
                inner = hashlib.md5(password.encode("utf-8") + self.address.user.encode("utf-8")).hexdigest()
                self._send(_message(b"p", b"md5" + hashlib.md5(inner.encode() + body[4:8]).hexdigest().encode()
                                    + b"\0"))
            elif code == 10:
                mechanisms = body[4:].split(b"\0")
                if b"SCRAM-SHA-256" not in mechanisms:
                    raise BackendUnavailable("the records' database offers no sign-in this client speaks (%s)"
                                             % b", ".join(name for name in mechanisms if name).decode("ascii",
                                                                                                     "replace"))
                scram = _Scram(password)
                first = scram.first()
                self._send(_message(b"p", b"SCRAM-SHA-256\0" + struct.pack("!i", len(first)) + first))
            elif code == 11 and scram is not None:
                self._send(_message(b"p", scram.final(body[4:])))
            elif code == 12 and scram is not None:
                scram.check(body[4:])
            else:
                raise BackendUnavailable("the records' database asks for a sign-in this client does not speak "
                                         "(authentication request %d)" % code)

    def _password(self) -> str:
        if self.address.password is None:
            raise BackendUnavailable("the records' database asks %s for a password, and none is given (a file: "
                                     "passfile= in --records, or PGPASSWORD)" % self.address.user)
        return self.address.password

    def _send(self, data: bytes) -> None:
        try:
            self._sock.sendall(data)
        except OSError as error:
            raise BackendUnavailable("the connection to the records' database was lost: %s" % error) from None

    def _receive(self) -> Tuple[bytes, bytes]:
        while True:
            if len(self._buffer) >= 5:
                length = struct.unpack("!i", self._buffer[1:5])[0]
                if len(self._buffer) >= length + 1:
                    kind, body = bytes(self._buffer[:1]), bytes(self._buffer[5:length + 1])
                    del self._buffer[:length + 1]
                    return kind, body
            try:
                data = self._sock.recv(65536)
            except OSError as error:
                raise BackendUnavailable("the connection to the records' database was lost: %s" % error) from None
            if not data:
                raise BackendUnavailable("the records' database closed the connection")
            self._buffer += data


class _Scram:
    """SCRAM-SHA-256 without channel binding (``n,,``), as PostgreSQL runs it."""

    def __init__(self, password: str) -> None:
        self.password = password
        self.nonce = base64.b64encode(secrets.token_bytes(18)).decode("ascii")
        self.bare = "n=,r=" + self.nonce
        self.server_key = b""
        self.said = ""

    def first(self) -> bytes:
        return ("n,," + self.bare).encode("ascii")

    def final(self, server_first: bytes) -> bytes:
        text = server_first.decode("ascii")
        fields = dict(part.split("=", 1) for part in text.split(","))
        if not fields.get("r", "").startswith(self.nonce):
            raise BackendUnavailable("the records' database answered SCRAM with another nonce")
        salted = hashlib.pbkdf2_hmac("sha256", self.password.encode("utf-8"), base64.b64decode(fields["s"]),
                                     int(fields["i"]))
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        without_proof = "c=biws,r=" + fields["r"]
        self.said = "%s,%s,%s" % (self.bare, text, without_proof)
        signature = hmac.new(hashlib.sha256(client_key).digest(), self.said.encode("ascii"), hashlib.sha256).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        self.server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
        return (without_proof + ",p=" + base64.b64encode(proof).decode("ascii")).encode("ascii")

    def check(self, server_final: bytes) -> None:
        """The server proves it knew the password too (else it is not the one we sign in to)."""
        fields = dict(part.split("=", 1) for part in server_final.decode("ascii").split(",") if "=" in part)
        expected = hmac.new(self.server_key, self.said.encode("ascii"), hashlib.sha256).digest()
        if not hmac.compare_digest(base64.b64decode(fields.get("v", "")), expected):
            raise BackendUnavailable("the records' database did not prove it knows the password (SCRAM)")


def _message(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("!i", len(body) + 4) + body


def _row(body: bytes) -> Tuple[Optional[str], ...]:
    count = struct.unpack("!h", body[:2])[0]
    at, values = 2, []
    for _ in range(count):
        length = struct.unpack("!i", body[at:at + 4])[0]
        at += 4
        if length < 0:
            values.append(None)
        else:
            values.append(body[at:at + length].decode("utf-8"))
            at += length
    return tuple(values)


def _fields(body: bytes) -> Dict[str, str]:
    return {part[:1].decode("ascii", "replace"): part[1:].decode("utf-8", "replace")
            for part in body.split(b"\0") if part}
