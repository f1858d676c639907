"""systemd integration in stdlib only: sd_notify, the watchdog, socket activation.

Everything here is a no-op outside systemd (no ``NOTIFY_SOCKET``, no
``LISTEN_FDS``); a failure to notify is logged and never fatal.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Dict, Optional

log = logging.getLogger(__name__)

SD_LISTEN_FDS_START = 3  # the first passed descriptor, by systemd's convention


def notify(state: str) -> bool:
    """Send ``state`` (e.g. ``READY=1``) to ``$NOTIFY_SOCKET``; False if not sent."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # the abstract namespace
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(state.encode("utf-8"))
        return True
    except OSError as error:
        log.warning("sd_notify %r failed: %s", state.split("\n")[0], error)
        return False


def watchdog_interval() -> float:
    """Seconds systemd's watchdog allows, if it watches this process (0 if not)."""
    try:
        usec = int(os.environ.get("WATCHDOG_USEC", "0"))
        pid = int(os.environ.get("WATCHDOG_PID", str(os.getpid())))
    except ValueError:
        return 0.0
    return usec / 1e6 if usec > 0 and pid == os.getpid() else 0.0


def start_watchdog(stop: threading.Event) -> Optional[threading.Thread]:
    """Ping ``WATCHDOG=1`` at half the interval systemd asked for, until ``stop``."""
    interval = watchdog_interval() / 2
    if not interval:
        return None

    def ping() -> None:
        while not stop.wait(interval):
            notify("WATCHDOG=1")

    thread = threading.Thread(target=ping, name="watchdog", daemon=True)
    thread.start()
    return thread


def activation_sockets(host: Optional[str] = None, port: Optional[int] = None) -> Dict[str, socket.socket]:
    """The listening sockets systemd passed (``LISTEN_FDS``), if they are for
    us: ``main``, and ``s3`` for the one a socket unit names so
    (``FileDescriptorName=s3``: the S3 API's). ``host``/``port``: the
    address the configuration names for the main one; if it is not the
    socket's, a warning says it is ignored (the socket unit decides)."""
    try:
        count = int(os.environ.get("LISTEN_FDS", "0"))
        pid = int(os.environ.get("LISTEN_PID", "0"))
    except ValueError:
        return {}
    if count < 1 or pid != os.getpid():
        return {}
    names = os.environ.get("LISTEN_FDNAMES", "").split(":")
    for name in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"):
        os.environ.pop(name, None)  # not for our children
    found: Dict[str, socket.socket] = {}
    for index in range(count):
        role = "s3" if index < len(names) and names[index] == "s3" else "main"
        sock = socket.socket(fileno=SD_LISTEN_FDS_START + index)
        if role in found:
            log.warning("systemd passed more than one socket for the %s port; serving the first", role)
            sock.close()
            continue
        sock.setblocking(True)
        found[role] = sock
    if "main" not in found:
        return found
    log.info("serving on the socket%s systemd passed", "s" if len(found) > 1 else "")
    bound = found["main"].getsockname()
    if port is not None and isinstance(bound, tuple) and (port != bound[1] or host not in (bound[0], "localhost")):
        log.warning("listening on %s:%d, the socket systemd passed (filestoraged.socket): the configured %s:%d "
                    "(--host/--port, FILESTORAGED_HOST/PORT) is ignored; change ListenStream= in the socket "
                    "unit, or disable the socket to listen on the configured address",
                    bound[0], bound[1], host, port)
    return found
