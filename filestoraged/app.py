"""The application object: configuration, backend, metrics and the routes of
every face, wired together once at start-up."""

from __future__ import annotations

import os
import time
from typing import Callable, Optional

from .config import Config
from .storage.disk.backend import DiskBackend
from .faces.data import DataFace
from .faces.files import FilesFace
from .faces.home import HomeFace
from .faces.kv import KVFace
from .lfs.locking import LfsLocksFace
from .lfs.transfers import LfsFace
from .tus.face import ResumableFace
from .faces.share import ShareFace
from .faces.ops import OpsFace
from .deployment import deployment_for
from .pages import error_page
from .metrics import Metrics
from .web.router import Router
from .sharing.store import LinkStore
from .access.tokens import TokenStore
from .tus.store import UploadStore
from .access.gate import Access
from .storage.interface import Backend


SWEEP_SECONDS = 60.0  # how often expired share links are looked for


def make_backend(config: Config, worker: Optional[int] = None) -> Backend:
    """The backend the configuration names, behind a memcached cache with
    ``--cache memcached``. ``pymemcache`` is imported only for memcached, so
    the disk default needs nothing installed."""
    tier = _tier(config, worker)
    if config.cache == "memcached":
        from .storage.memcached.tier import CachedBackend

        return CachedBackend(tier, config.memcached_servers)
    return tier


def _tier(config: Config, worker: Optional[int]) -> Backend:
    if config.backend == "memcached":
        from .storage.memcached.backend import MemcachedBackend

        return MemcachedBackend(config.memcached_servers, config.max_size, config.data_dir, config.max_connections)
    if config.backend == "s3":
        from .storage.s3.backend import S3Backend
        from .storage.s3.client import configured

        return S3Backend(configured(config), config.data_dir, config.max_size)
    # Among workers, the parent swept .tmp before any started (see workers.arbiter).
    return DiskBackend(config.data_dir, config.max_size, config.max_bytes or None,
                       sweep_tmp=worker is None, worker=worker)


class App:
    def __init__(self, config: Config, backend: Optional[Backend] = None,
                 clock: Callable[[], float] = time.time, worker: Optional[int] = None) -> None:
        """``worker``: this process's slot among several worker processes
        (None: the only process serving this data directory)."""
        self.config = config
        self.worker = worker
        os.makedirs(config.data_dir, exist_ok=True)
        self.backend = backend if backend is not None else make_backend(config, worker)
        self.metrics = Metrics()
        self.metrics.usage = self.backend.usage
        # The other workers' metrics snapshots (see workers.metrics_files).
        self.peer_metrics: Callable[[], list] = list
        self.deployment = deployment_for(config, clock)
        self.records, self.throttle = self.deployment.open_records(getattr(self.backend, "client", None))
        self.deployment.begin(self.records, worker)
        self.shares = LinkStore(self.records, self.backend, self.throttle, config.share_lease,
                                self.deployment.holder())
        self.kv = self.deployment.kv_store(self.records)
        self.tokens = TokenStore(self.records, clock, self.deployment.token_cache_seconds)
        self.access = Access(self.tokens, config.auth, self.throttle, clock)
        self.shares.start_sweeper(SWEEP_SECONDS)
        self.uploads = UploadStore(config.data_dir, clock)  # resumable uploads' bytes, on this daemon's disk
        self.router = Router()
        # Failures as pages for browsers (None: JSON for everyone, as the drop-in mode answers).
        self.error_page: Optional[Callable] = None if config.kv_at_root else error_page
        if config.kv_at_root:  # the drop-in mode: the key-value store alone, at /
            faces: tuple = (KVFace(self, prefix=""),)
        else:
            faces = (HomeFace(self), FilesFace(self), DataFace(self), ShareFace(self), ResumableFace(self),
                     LfsFace(self), LfsLocksFace(self), KVFace(self), OpsFace(self))
        for face in faces:
            face.register(self.router)

    def close(self) -> None:
        self.access.close()
        self.tokens.close()
        self.shares.close()
        self.kv.close()
        for records in {id(self.records): self.records, id(self.throttle): self.throttle}.values():
            records.close()
        self.backend.close()
