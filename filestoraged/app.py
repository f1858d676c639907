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
from .kvstore.local import KVLimits, KVStore
from .pages import error_page
from .metrics import Metrics
from .web.router import Router
from .kvstore.bucket import SharedKVStore
from .sharing.store import LinkStore
from .sharing.sweep import give_back
from .access.tokens import TokenStore
from .tus.store import UploadStore
from .access.gate import Access
from .storage.interface import Backend


SWEEP_SECONDS = 60.0  # how often expired share links are looked for
# With records in the bucket, a token read is believed this long: the bound
# on how long a revocation takes to reach every daemon (a GET of the bucket
# per authenticated request otherwise).
TOKEN_CACHE_SECONDS = 2.0


def make_records(config: Config, s3_client=None, clock: Callable[[], float] = time.time) -> tuple:
    """``(records, throttle)``: where tokens (and with ``--records s3`` share
    links and the KV store) live, and where attempt limits are counted.
    Locally both in ``meta.db`` (the throttle without fsync); with
    ``--records s3`` both in the bucket beside the objects (through
    ``s3_client``, the backend's, or a client of their own)."""
    if config.records == "s3":
        from .records.bucket import BucketRecords
        from .records.checked import CheckedRecords
        from .storage.s3.client import configured

        if s3_client is None:
            s3_client = configured(config)
        records = CheckedRecords(BucketRecords(s3_client, clock), config.s3_endpoint)
        return records, records
    from .records.local import LocalRecords

    meta_db = os.path.join(config.data_dir, "meta.db")
    records = LocalRecords(meta_db, clock=clock)
    return records, LocalRecords(meta_db, durable=False, clock=clock)


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
        meta_db = os.path.join(config.data_dir, "meta.db")
        self.records, self.throttle = make_records(config, getattr(self.backend, "client", None), clock)
        # One machine: holds are the worker's (the parent gives back a dead
        # one's); a daemon alone gives back what a previous run left.
        holder = str(os.getpid()) if config.records == "local" else None
        if config.records == "local" and worker is None:
            give_back(self.records)
        self.shares = LinkStore(self.records, self.backend, self.throttle, config.share_lease, holder)
        if config.records == "s3":  # every face's state in the bucket: any daemon serves any request
            self.kv: KVStore | SharedKVStore = SharedKVStore(self.records, kv_limits(config))
        else:
            # Decision: the KV store keeps a SQLite form of its own on one
            # machine. Over the records (SharedKVStore on LocalRecords) a
            # 1-key set and commit ran 563/s against 2,006/s, a lookup
            # 57,000/s against 167,000/s (same process, interleaved).
            self.kv = KVStore(meta_db, kv_limits(config))
        self.tokens = TokenStore(self.records, clock, TOKEN_CACHE_SECONDS if config.records == "s3" else 0.0)
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


def kv_limits(config: Config) -> KVLimits:
    return KVLimits(
        max_key=config.kv_max_key,
        max_value=config.kv_max_value,
        max_staged_keys=config.kv_max_staged_keys,
        max_staged_bytes=config.kv_max_staged_bytes,
        cache_keys=config.kv_cache_keys,
    )
