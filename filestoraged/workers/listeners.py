"""The sockets a daemon serves: the main port and, with ``--s3-api``, the
S3 API's; from systemd (socket activation, told apart by their names) or
bound here. Bound once, before any worker starts, and shared by them all."""

from __future__ import annotations

import errno
import logging
import socket
from dataclasses import dataclass
from typing import List, Optional

from ..web.server import listen
from . import systemd

log = logging.getLogger(__name__)


class Unbound(OSError):
    """A socket that could not be bound: the system's error, the address
    and the setting that named it (``--port``, ``--s3-api``), so that the
    start-up line names the one to change."""

    def __init__(self, error: OSError, setting: str, host: str, port: int) -> None:
        super().__init__(error.errno, error.strerror or str(error))
        self.setting, self.host, self.port = setting, host, port
        self.no_such_address = (isinstance(error, socket.gaierror)
                                or error.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT))


def _bound(setting: str, host: str, port: int) -> socket.socket:
    """``listen(host, port)``; ``Unbound`` naming ``setting`` where it fails."""
    try:
        return listen(host, port)
    except OSError as error:
        raise Unbound(error, setting, host, port) from error


@dataclass
class Listeners:
    main: socket.socket
    s3: Optional[socket.socket] = None

    @classmethod
    def open(cls, config) -> "Listeners":
        """The configuration's sockets: each the one systemd passed for it,
        else bound now."""
        # Only an address someone set can disagree with the socket unit's.
        chosen = "host" in config.given or "port" in config.given
        passed = systemd.activation_sockets(config.host if chosen else None, config.port if chosen else None)
        if "s3" in passed and config.s3_api_address is None:
            log.warning("systemd passed the S3 API's socket (filestoraged-s3.socket) but --s3-api is not set: "
                        "set FILESTORAGED_S3_API to serve the S3 API on it")
        main = passed.get("main") or _bound("--port", config.host, config.port)
        s3 = None
        try:
            address = config.s3_api_address
            if address is not None:
                s3 = passed.get("s3") or _bound("--s3-api", *address)
        except BaseException:
            main.close()
            raise
        return cls(main, s3)

    def all(self) -> List[socket.socket]:
        return [sock for sock in (self.main, self.s3) if sock is not None]

    def close(self) -> None:
        for sock in self.all():
            sock.close()
