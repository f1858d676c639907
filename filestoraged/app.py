"""The application object: configuration, backend, metrics and the routes of
every face, wired together once at start-up."""

from __future__ import annotations

from typing import Optional

from .config import Config
from .disk import DiskBackend
from .faces.data import DataFace
from .faces.files import FilesFace
from .faces.ops import OpsFace
from .metrics import Metrics
from .router import Router
from .storage import Backend


def make_backend(config: Config) -> Backend:
    """The backend the configuration names. ``pymemcache`` is imported only here,
    only for the memcached backend, so the disk default needs nothing installed."""
    if config.backend == "memcached":
        from .memcached_backend import MemcachedBackend

        return MemcachedBackend(config.memcached_servers, config.max_size, config.data_dir)
    return DiskBackend(config.data_dir, config.max_size, config.max_bytes or None)


class App:
    def __init__(self, config: Config, backend: Optional[Backend] = None) -> None:
        self.config = config
        self.backend = backend if backend is not None else make_backend(config)
        self.metrics = Metrics()
        self.metrics.usage = self.backend.usage
        self.router = Router()
        for face in (FilesFace(self), DataFace(self), OpsFace(self)):
            face.register(self.router)

    def close(self) -> None:
        self.backend.close()
