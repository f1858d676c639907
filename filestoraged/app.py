"""The application object: configuration, backend, metrics and the routes of
every face, wired together once at start-up."""

from __future__ import annotations

import logging
import os
import time
from typing import Callable, Dict, List, Optional, Tuple

from .config import Config
from .errors import FileStoreError, WrongPort
from .storage.disk.backend import DiskBackend
from .storage.names import Namespace
from .faces.data import DataFace
from .faces.files import FilesFace
from .console.face import ConsoleFace
from .faces.home import HomeFace
from .faces.kv import KVFace
from .lfs.locking import LfsLocksFace
from .lfs.transfers import LfsFace
from .tus.face import ResumableFace
from .faces.restic import ResticFace, told_to_restic
from .faces.webdav.face import WebDavFace
from .drops.links import DropLinks
from .faces.drop import DropFace
from .faces.share import ShareFace
from .faces.ops import OpsFace
from .catalog.buckets import Buckets
from .catalog.notifications import SHARE_SPENT
from .catalog.outbox import EVENT, Outbox
from .catalog.quotas import QuotaSettings
from .catalog.claims import Claims
from .catalog.keys import Keys
from .catalog.keyspace import Keyspace
from .catalog.recent import FLUSH_SECONDS as RECENT_FLUSH_SECONDS, Recent
from .catalog.lifecycle import Lifecycle
from .catalog.unfinished import Unfinished
from .catalog.versions import Versions
from .base.doorbell import Doorbell
from .base.periodic import Periodic
from .deployment import deployment_for
from .deployment.serving import ServingLease
from .pages import error_page
from .metrics import Metrics
from .web import wrong_port
from .web.messages import Request, Response, error_response
from .web.router import Router
from .web.site import Site
from .wire.accept import prefers_html
from .sharing.links import LinkStore
from .access.tokens import TokenStore
from .access.users import Users
from .catalog.parts import Parts
from .tus.shared import SharedUploads
from .tus.uploads import Uploads, UploadStore
from .access.gate import Access
from .access.hosts import KnownHosts
from .holds.ledgered import LedgeredBackend
from .replication.sender import LEAST, LOOK_EVERY, Sender
from .storage.interface import Backend, Bounds


log = logging.getLogger(__name__)

SWEEP_SECONDS = 60.0  # how often expired share links are looked for
WATCH_SECONDS = 30  # how often the first worker asks whether the store answers


def make_backend(config: Config, worker: Optional[int] = None) -> Backend:
    """The backend the configuration names, behind a memcached cache with
    ``--cache memcached``. ``pymemcache`` is imported only for memcached, so
    the disk default needs nothing installed."""
    tier = _tier(config, worker)
    if config.cache == "memcached":
        from .storage.memcached.tier import CachedBackend

        return CachedBackend(tier, config.memcached_servers)
    return tier


def _listening(bell: Optional[Doorbell]) -> Optional[Doorbell]:
    """``bell``, listened at by this process (the outbox's sender); None
    where there is none (records shared beyond this machine) or it cannot
    listen: the sender then looks every ``LOOK_EVERY`` seconds only."""
    if bell is None:
        return None
    try:
        return bell.listen()
    except OSError as error:
        log.warning("the outbox's sender cannot be rung by commits (%s): it looks every %g s", error, LOOK_EVERY)
        return None


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
                       alone=worker is None, worker=worker, live_uploads=deployment_for(config).upload_ids)


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
        if not self.backend.keeps_quotas:  # bucket quotas counted in the records, which every daemon shares
            self.backend = LedgeredBackend(self.backend, self.records)
        self.shares = LinkStore(self.records, self.backend, self.throttle, config.share_lease,
                                self.deployment.holder())
        self.kv = self.deployment.kv_store(self.records)
        # S3 keys and buckets, and what keeps a repository's bytes (see catalog.claims).
        self.buckets, self.keys = Buckets(self.records), Keys(self.records)
        self.claims = Claims(self.records, self.backend, self.throttle, self.deployment.pin_locks(),
                             self.deployment.upload_marks())
        self.versions = Versions(self.records)
        # A bucket's recent changes, for people: written without an fsync of their own, every few seconds.
        self.recent = Recent(self.throttle)
        self.outbox = Outbox(self.records)  # what commits ask to send elsewhere (replication, events)
        self.shares.spending = self._share_spending
        self.keyspace = Keyspace(self.claims, self.keys, self.versions, self.buckets, self.recent,
                                 self.outbox)  # names keys
        self.recent_writer = Periodic("recent-changes", RECENT_FLUSH_SECONDS, self.recent.flush).start()
        self.unfinished = Unfinished(self.records, self.backend, self.deployment.pin_locks())  # S3 multipart uploads
        if self.backend.keeps_quotas:
            self.backend.tell_buckets(self._bounds_of)
            self.metrics.bucket_usage = self._bucket_usage
            self.metrics.owner_usage = self._owner_usage
        self.quotas = QuotaSettings(self.buckets, self.unfinished, self.backend)  # what an admin sets
        self.lifecycle = Lifecycle(self.records, self.buckets, self.keyspace, self.unfinished)
        self._recover_uploads()  # what S3 uploads of a process that died left, before this one serves
        self.upkeep = Periodic("s3-upkeep", SWEEP_SECONDS, self._sweep_s3).start()
        # The outbox sent by one process of the store at a time (its turn): here, by the first worker.
        self.sender = Sender(self.records, self.outbox, self.buckets, self.keyspace, self.backend,
                             os.path.join(config.data_dir, ".tmp"))
        self.sender.spent = lambda link_id: (self.shares.downloads_left(link_id) or 0) <= 0
        # The sender waits to be rung by a commit that wrote items (see base.doorbell), or looks every
        # LOOK_EVERY seconds: an idle daemon sleeps. Its first look is at once (what waits from before a stop).
        self.replication = Periodic("replication", LOOK_EVERY, self.sender.run_once, at_once=True,
                                    bell=_listening(self.outbox.bell), least=LEAST).start() \
            if worker in (None, 0) else None
        self.metrics.replication_backlog = self.outbox.backlog
        # Whether a store across the network (memcached, S3) answers, said at
        # start and while it does not (by the first worker: once per
        # daemon), as /healthz says it.
        self._store_down: Optional[str] = None
        self.watch = (Periodic("store-watch", WATCH_SECONDS, self._watch_store, at_once=True).start()
                      if worker in (None, 0) and config.backend != "disk" else None)
        # Over shared records, a lease says this process serves (deployment.serving), from before its first
        # request: any of a daemon's workers may take the daemon's first, so each keeps one.
        self.lease = (ServingLease(self.records, os.getpid() if worker is None else os.getppid()).start()
                      if self.deployment.shared else None)
        self.tokens = TokenStore(self.records, clock, self.deployment.token_cache_seconds)
        self.users = Users(self.records, self.deployment.token_cache_seconds)
        # The access warnings are said once per daemon: by the first worker.
        self.access = Access(self.tokens, config.auth, self.throttle, clock, speaks=worker in (None, 0),
                             hosts=KnownHosts(config.public_url, config.allowed_hosts), users=self.users,
                             bucket_policy=self._bucket_policy)
        self.shares.start_sweeper(SWEEP_SECONDS)
        self.drops = DropLinks(self.records, self.records.now)  # upload-request links
        # Resumable uploads: where any daemon takes the next PATCH, in the
        # records and the store every daemon shares; else on this one's disk.
        self.uploads: Uploads = (SharedUploads(self.records, Parts(self.records, self.backend), config.data_dir)
                                 if self.deployment.shared else UploadStore(config.data_dir, clock))
        self.router = Router()
        # Failures as pages for browsers (None: JSON for everyone, as the drop-in mode answers).
        self.error_page: Optional[Callable] = None if config.kv_at_root else error_page
        self.ports: Dict[str, int] = {}  # the ports its servers listen on, by site ("main", "s3")
        self.site = Site("main", self.router, self.access.grant, self.answer_failure,
                         lambda host: (self.access.resolve(host, config.trusted_proxy), self.access.why),
                         check_port=lambda headers, query: wrong_port.check_main(headers, query, self.ports.get("s3")))
        if config.kv_at_root:  # the drop-in mode: the key-value store alone, at /
            faces: tuple = (KVFace(self, prefix=""),)
        else:
            faces = (HomeFace(self), FilesFace(self), DataFace(self), ShareFace(self), DropFace(self),
                     ResumableFace(self), LfsFace(self), LfsLocksFace(self), KVFace(self), OpsFace(self),
                     ConsoleFace(self), ResticFace(self), WebDavFace(self))
        for face in faces:
            face.register(self.router)
        # What the S3 API's port serves (--s3-api), beside the main port.
        self.s3_site: Optional[Site] = None
        if config.s3_api:
            from .s3api.site import S3Face

            self.s3_site = S3Face(self).site()

    def answer_failure(self, error: BaseException, headers, target: str, request: Optional[Request] = None
                       ) -> Response:
        """The main faces' answer to a failure: ``{"error", "message"}`` as
        JSON, or a page to a browser (``headers``: the request's, None when
        its head itself failed)."""
        if isinstance(error, WrongPort):  # an S3 client's request: told in S3's XML
            from .s3api.answers import error_answer

            return error_answer(error, target.partition("?")[0], request.identify() if request else "-")
        answer = error_response(error)
        if self.error_page is not None and headers is not None and prefers_html(headers):
            return self.error_page(answer.status, answer.data["message"], answer.headers)
        if self.router.face_of(target.partition("?")[0]) == "restic":
            return told_to_restic(answer)
        return answer

    def _sweep_s3(self) -> None:
        """Bytes nothing holds any more, multipart uploads left unfinished,
        and what buckets' lifecycle rules say is due (once a day)."""
        self._recover_uploads()
        self.claims.sweep(SWEEP_SECONDS)
        self.unfinished.sweep(self.records.now())
        self.lifecycle.sweep()

    def _recover_uploads(self) -> None:
        """Bytes S3 uploads stored before their process died, with no key
        to name them, tracked (``Keyspace.recover``), and the parts of
        multipart uploads that ended but kept them removed
        (``Unfinished.finish_ended``); a store that does not answer now is
        asked again by the next upkeep."""
        try:
            self.keyspace.recover()
            ended = self.unfinished.finish_ended()
        except (FileStoreError, OSError) as error:
            log.warning("what S3 uploads left when their process stopped is looked at later: %s",
                        error.text if isinstance(error, FileStoreError) else error)
            return
        if ended:
            log.info("removed the parts of %d multipart upload(s) that had ended", len(ended))

    def _watch_store(self) -> None:
        try:
            self.backend.check()
        except FileStoreError as error:
            log.warning("the %s backend does not answer: %s; uploads and downloads answer 503 until it does "
                        "(checked again every %d s)", self.backend.name, error.text, WATCH_SECONDS)
            self._store_down = error.text
            return
        if self._store_down is not None:
            log.info("the %s backend answers again", self.backend.name)
            self._store_down = None

    def _bucket_policy(self, name: str) -> Optional[str]:
        """The text of the policy of the bucket ``name``, None without one (or without the bucket)."""
        found = self.buckets.get(name) if name != "*" else None
        return None if found is None else found.policy

    def _bounds_of(self, namespace: Namespace) -> Optional[Bounds]:
        """What a namespace's bytes count against (its bucket's quota, its
        owner's): its repository's bucket's, or its unfinished multipart
        upload's parts' bucket's."""
        path = namespace.path
        if path.startswith("repos/"):
            name: Optional[str] = path[len("repos/"):]
        else:  # an upload's parts: as this process saw the upload, else as its first part was counted
            name = self.unfinished.bucket_of(path[len("parts/"):]) or self.backend.belonging(namespace)
        found = self.buckets.get(name) if name else None
        return None if found is None else self.buckets.bounds(found)

    def _share_spending(self, link_id: str) -> None:
        """A completed download of a share link is about to be counted: where
        it uses the link up and webhooks asked for that, their events are in
        the outbox first (one each, however many downloads ask; the sender
        sends one only once the link is used up: ``replication.sender``)."""
        hooks = self.sender.webhooks.wanting(SHARE_SPENT)
        if hooks and self.shares.downloads_left(link_id) == 1:
            for hook in hooks:
                self.outbox.add_once("~spent-%s-%s" % (link_id, hook.name), link_id, EVENT,
                                     {"event": SHARE_SPENT, "hook": hook.name, "config": ""})

    def _bucket_usage(self) -> List[Tuple[str, int, Optional[int]]]:
        """Each bucket's stored bytes and quota."""
        stored = self.backend.buckets_bytes() or {}
        return [(bucket.name, stored.get(bucket.name, (0, 0))[0], bucket.quota) for bucket in self.buckets.all()]

    def _owner_usage(self) -> List[Tuple[str, int, Optional[int]]]:
        """Each bucket owner's stored bytes (all their buckets') and quota."""
        owned, quotas = self.buckets.owners()
        if not owned and not quotas:
            return []
        names = sorted(set(owned) | set(quotas))
        counted = self.backend.owners_bytes({name: owned.get(name, ()) for name in names})
        return [(owner, counted[owner][0], quotas.get(owner)) for owner in names if owner in counted]

    def close(self) -> None:
        if self.watch is not None:
            self.watch.close()
        if self.lease is not None:
            self.lease.close()
        self.upkeep.close()
        if self.replication is not None:
            self.replication.close()
        self.sender.close()
        self.outbox.close()
        self.recent_writer.close()
        self.recent.flush()  # what a stop would otherwise lose
        self.claims.close()
        self.access.close()
        self.tokens.close()
        self.shares.close()
        self.kv.close()
        for records in {id(self.records): self.records, id(self.throttle): self.throttle}.values():
            records.close()
        self.backend.close()
