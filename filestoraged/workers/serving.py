"""Moved: one serving process is ``workers.process`` (this name also meant
streaming an object, in web/). Kept so old imports work."""

from .process import (GIL_SWITCH_SECONDS, MEMCACHED_RECV_SIZE, STOP_SIGNALS, Alone, Heartbeat,  # noqa: F401
                      ServingProcess, Worker, WorkerRole, serve)
