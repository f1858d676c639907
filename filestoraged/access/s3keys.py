"""S3 key pairs for API tokens. An access key id is random (``FSD`` and 17
letters and digits, as AWS's look); its secret is not kept anywhere: it is
derived from the id with a server key (HMAC-SHA256), because SigV4 needs
the server to know the secret of every request it checks.

The server key is 32 random bytes in a file (``--s3-key-file``, by default
``<data-dir>/s3.key``), made with mode 0600 when it is missing. Who reads
``meta.db`` or the records learns key ids only; who reads the server key
file can derive every secret (keep it as the TLS key is kept). A token
revoked takes its key id with it: the secret still derives, and is refused.
Replacing the file changes every secret at once. Daemons that share one
``--records s3`` bucket must share one file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import string

from ..errors import FileStoreError

KEY_BYTES = 32
_ID = re.compile(r"FSD[A-Z0-9]{17}")
_ID_CHARS = string.ascii_uppercase + string.digits


class ServerKeyError(FileStoreError):
    """The server key file cannot be read or made (a start-up error)."""


def new_key_id() -> str:
    return "FSD" + "".join(secrets.choice(_ID_CHARS) for _ in range(17))


def is_key_id(text: str) -> bool:
    return _ID.fullmatch(text) is not None


def secret_of(server_key: bytes, key_id: str) -> str:
    """The secret access key of ``key_id``: 40 characters, as AWS's."""
    digest = hmac.new(server_key, ("filestoraged s3 secret\0" + key_id).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest)[:40].decode("ascii").replace("+", "A").replace("/", "B")


def server_key(path: str) -> bytes:
    """The server key in ``path``, made (0600) if the file is missing: written
    whole under another name, then linked into place, so that workers
    starting together all read the one that won. Made by root (``token
    create --s3`` run with sudo), it belongs to its folder's owner, the
    service user that must read it."""
    if not os.path.exists(path):
        try:
            folder = os.path.dirname(os.path.abspath(path))
            tmp = os.path.join(folder, ".s3-key-%d-%s" % (os.getpid(), secrets.token_hex(4)))
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            try:
                os.write(fd, secrets.token_hex(KEY_BYTES).encode("ascii") + b"\n")
                if os.geteuid() == 0:
                    owner = os.stat(folder)
                    os.fchown(fd, owner.st_uid, owner.st_gid)
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
            finally:
                os.unlink(tmp)
        except OSError as error:
            raise ServerKeyError("cannot make the S3 server key %s: %s" % (path, error.strerror or error)) from None
    try:
        with open(path, "rb") as handle:
            text = handle.read(1024).strip()
        key = bytes.fromhex(text.decode("ascii"))
    except OSError as error:
        raise ServerKeyError("cannot read the S3 server key %s: %s" % (path, error.strerror or error)) from None
    except ValueError:
        raise ServerKeyError("the S3 server key %s is not %d bytes in hex" % (path, KEY_BYTES)) from None
    if len(key) < 16:
        raise ServerKeyError("the S3 server key %s is too short: at least 16 bytes in hex" % path)
    return key
