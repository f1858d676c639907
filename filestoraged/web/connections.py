"""What the servers of one process share (the main port's and the S3
API's): see ``Connections``."""

from __future__ import annotations

from typing import Optional

from ..base.threads import Reused
from ..base.turns import Turns
from .admission import Admission, Waiting
from .descriptors import SpareDescriptor

# A connection's thread, its connection closed, waits this long to take the
# next connection (a thread's start cost a new connection 130-200 us).
CONNECTION_THREAD_IDLE = 10.0


class Connections:
    """What the servers of one process share (the main one and the S3
    API's): its connection slots and the per-client cap (``admission``),
    the connections waiting for a request, the turn whole answers take, and
    the connections' reused threads."""

    def __init__(self, config, worker: Optional[int]) -> None:
        self.trusted_proxies = frozenset(a.strip() for a in config.trusted_proxy.split(",") if a.strip())
        self.admission = Admission(config.max_connections, config.max_client_connections, self.trusted_proxies,
                                   config.data_dir, worker)
        self.waiting = Waiting()
        self.turns = Turns()  # whole answers leave in turn (see handler)
        self.threads = Reused(CONNECTION_THREAD_IDLE, "connection")
        self.spare = SpareDescriptor()  # for a connection refused when the process is out of descriptors

    def close(self) -> None:
        self.admission.close()
        self.threads.close()
        self.spare.close()
