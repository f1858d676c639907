"""The names a daemon that lets anyone in (``--auth off``) answers to.

Such a daemon trusts whoever reaches it, and a web page reaches it too, by
DNS rebinding: the page's own name (``rebind.example``) is made to resolve
to 127.0.0.1, and the browser then sends the page's requests, with their
answers readable by the page, to the daemon, under ``Host:
rebind.example``. So under ``off`` a request is served only where the name
it came by is one the daemon knows:

- an IP address (a page cannot be served from one of our addresses: its
  origin would be ours);
- ``localhost`` and the names under ``.localhost`` (browsers resolve them
  to loopback themselves, never through DNS);
- the host of ``--public-url``;
- a name ``--allowed-hosts`` lists (``.example.org``: that name and every
  name under it; ``*``: any name, the check off).

Anything else is ``421 Misdirected Request``, whatever the face. A request
through a trusted proxy is judged by the name the proxy says the client
used (``X-Forwarded-Host``). Under ``writes`` and ``all`` every request
that changes or lists anything proves a token, which a page of another
name never holds (nor the console's cookie), so no name is refused there.
"""

from __future__ import annotations

import ipaddress
from typing import Dict, FrozenSet, Optional, Tuple
from urllib.parse import urlsplit

from ..errors import Misdirected

JUDGED_KEPT = 1024  # names whose answer is kept (a client may send any: past it, all are judged again)


class KnownHosts:
    def __init__(self, public_url: str = "", allowed: str = "") -> None:
        names = [name.strip().lower() for name in allowed.split(",") if name.strip()]
        self.any = "*" in names
        public = (urlsplit(public_url).hostname or "").lower() if public_url else ""
        self.exact: FrozenSet[str] = frozenset([name for name in names if not name.startswith(".")]
                                               + ([public] if public else []))
        self.under: Tuple[str, ...] = tuple(name for name in names if name.startswith("."))
        self._judged: Dict[str, bool] = {}  # host -> known: asked every request, mostly of one or two names

    def knows(self, host: Optional[str]) -> bool:
        """Whether ``host`` (a Host header's ``host[:port]``, already checked
        for its form; None where the request named none) is a name of ours."""
        if host is None or self.any:
            return True
        known = self._judged.get(host)
        if known is None:
            if len(self._judged) >= JUDGED_KEPT:
                self._judged.clear()
            known = self._judged[host] = self._judge(host)
        return known

    def _judge(self, host: str) -> bool:
        name = _name_of(host).lower()
        if name.startswith("["):
            return True  # an IPv6 literal
        try:
            ipaddress.ip_address(name)
            return True
        except ValueError:
            pass
        if name == "localhost" or name.endswith(".localhost") or name in self.exact:
            return True
        return any(name.endswith(suffix) or name == suffix[1:] for suffix in self.under)

    def check(self, host: Optional[str]) -> None:
        """``Misdirected`` (421) unless ``knows(host)``."""
        if not self.knows(host):
            raise Misdirected("this daemon answers to loopback names, IP addresses, its --public-url and the names "
                              "--allowed-hosts lists, not to %s (access control is off: see docs/security.md)"
                              % ascii(_name_of(host or "")[:100]))


def _name_of(host: str) -> str:
    """The name of a ``host[:port]``, without its port (an IPv6 literal keeps its brackets)."""
    if host.startswith("["):
        return host[:host.find("]") + 1]
    return host.rsplit(":", 1)[0] if ":" in host else host
