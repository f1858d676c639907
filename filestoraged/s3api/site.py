"""The S3 API (``--s3-api``): path-style routes (``/``, ``/BUCKET``,
``/BUCKET/KEY``), the operation each request is (a table of the method,
the query's subresource and the headers), who sent it (``signatures``),
and its answer, or its failure as S3's XML ``<Error>``.

A bucket is a repository and a key names one of its content-addressed
objects (``catalog``): an object put here is ``/data/BUCKET/<sha256>`` on
the main port. Operations S3 has and this server does not carry out are
answered ``501 NotImplemented``.
"""

from __future__ import annotations

import logging
from typing import Callable, Dict, List, Optional, Tuple
from urllib.parse import unquote

from ..access.actions import action_of
from ..access.gate import logged, resolve_mode, through_proxy
from ..access.policy import Decision
from ..access.s3keys import server_key
from ..access.scopes import ADMIN, Need, Scope
from ..catalog.names import object_key
from ..catalog.handle import BucketHandle
from ..errors import BadRequest, FileStoreError, NotFound, NotImplementedHere, WrongPort
from ..storage.names import repository
from ..web import wrong_port
from ..web.messages import ObjectResponse, PreparedResponse, Request, Response, error_response, new_request_id
from ..web.router import Router
from ..web.site import Settled, Site
from ..wire.request_head import Headers
from . import answers
from .acls import BUCKET_READ, BUCKET_WRITE, OBJECT_READ, widened
from .front_page import asks_for_page, front_page
from .answered import plain, settles
from .buckets import BucketOperations
from .cors import CorsOperations
from .notifications import NotificationOperations
from .lifecycle import LifecycleOperations
from .listing import ListingOperations
from .object_lock import LockOperations
from .forms import FormOperations
from .multipart import MultipartOperations
from .objects import ObjectOperations
from .policies import JUDGED_PER_KEY, MANAGING, PolicyOperations, enforced
from .public_access import PublicAccessOperations
from .signatures import Signatures, allow, allow_user, may
from .tagging import TaggingOperations
from .unkept import refuse_unmet

log = logging.getLogger(__name__)

METHODS = ("GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS")
# The operations a kept answer may settle before they are judged again (``answered``).
_SETTLING = frozenset(("GetObject", "HeadObject"))
# Query parameters that name a part of a bucket or an object other than its
# content: a request that names one this server does not serve is 501, never
# taken for a plain GET or PUT of the object.
SUBRESOURCES = frozenset((
    "accelerate", "acl", "analytics", "attributes", "cors", "delete", "encryption", "intelligent-tiering",
    "inventory", "legal-hold", "lifecycle", "location", "logging", "metrics", "notification", "object-lock",
    "ownershipControls", "partNumber", "policy", "policyStatus", "publicAccessBlock", "replication", "requestPayment",
    "restore", "retention", "select", "tagging", "torrent", "uploadId", "uploads", "versioning", "versions",
    "website", "list-type", "session",
))


class Operation:
    """One row of the table: where (``service``, ``bucket``, ``object``),
    the method, the query parameter and the header it is known by (None:
    none, and no subresource either), its S3 name, what it needs (the verb
    on the bucket's repository, or ``admin``; ``public``: anyone may under
    ``--auth writes``), and the handler. The verb ``form``: the handler
    itself asks (``forms``). ``acl``: what a canned ACL may let a caller
    do here whose token falls short (``acls``)."""

    def __init__(self, level: str, method: str, query: Optional[str], header: Optional[str], name: str,
                 verb: str, handler: Callable[..., Response], public: bool = False, acl: Optional[str] = None
                 ) -> None:
        self.level, self.method, self.query, self.header = level, method, query, header
        self.name, self.verb, self.handler, self.public = name, verb, handler, public
        self.acl = acl

    def matches(self, level: str, method: str, query: Dict[str, str], headers) -> bool:
        if level != self.level or method != self.method:
            return False
        if self.header is not None and self.header not in headers:
            return False
        if self.query is None:
            return not any(name in SUBRESOURCES for name in query)
        return all(name in query for name in self.query.split("&"))

    def need(self, bucket: Optional[str], key: Optional[str]) -> Optional[Need]:
        """What the request's token must grant: the verb on the bucket, and
        on its key for an object's operation (a grant may hold a prefix);
        None for an upload from a form (``form``: who sent it is in the
        form, and its handler asks once it read that far)."""
        if self.verb == "form":
            return None
        if self.verb == "admin":
            return Need(ADMIN)
        return Need(Scope("data", self.verb, bucket, key), public=self.public)


class S3Face:
    def __init__(self, app) -> None:
        config = app.config
        self.app = app
        self.signatures = Signatures(app.tokens, server_key(config.s3_key_path), app.throttle, users=app.users)
        self.mode, self.why = config.auth, "set by --auth"
        buckets, objects, listing = BucketOperations(app), ObjectOperations(app), ListingOperations(app)
        multipart, locks, lifecycle = MultipartOperations(app), LockOperations(app), LifecycleOperations(app)
        tagging, forms, policies = TaggingOperations(app), FormOperations(app, self.signatures), PolicyOperations(app)
        blocks, notifications = PublicAccessOperations(app), NotificationOperations(app)
        self.cors = cors = CorsOperations(app)
        self.answered = objects.answered
        self.table: List[Operation] = [
            Operation("service", "GET", None, None, "ListBuckets", "admin", buckets.list_buckets),
            Operation("bucket", "GET", "location", None, "GetBucketLocation", "read", buckets.location),
            Operation("bucket", "GET", "versioning", None, "GetBucketVersioning", "read", buckets.versioning),
            Operation("bucket", "PUT", "versioning", None, "PutBucketVersioning", "admin", buckets.put_versioning),
            Operation("bucket", "GET", "lifecycle", None, "GetBucketLifecycleConfiguration", "read", lifecycle.get),
            Operation("bucket", "PUT", "lifecycle", None, "PutBucketLifecycleConfiguration", "admin", lifecycle.put),
            Operation("bucket", "DELETE", "lifecycle", None, "DeleteBucketLifecycle", "admin", lifecycle.delete),
            Operation("bucket", "GET", "object-lock", None, "GetObjectLockConfiguration", "read",
                      locks.get_configuration),
            Operation("bucket", "PUT", "object-lock", None, "PutObjectLockConfiguration", "admin",
                      locks.put_configuration),
            Operation("bucket", "GET", "acl", None, "GetBucketAcl", "read", buckets.acl),
            Operation("bucket", "PUT", "acl", None, "PutBucketAcl", "admin", buckets.put_acl),
            Operation("bucket", "GET", "cors", None, "GetBucketCors", "read", cors.get),
            Operation("bucket", "PUT", "cors", None, "PutBucketCors", "admin", cors.put),
            Operation("bucket", "DELETE", "cors", None, "DeleteBucketCors", "admin", cors.delete),
            Operation("bucket", "GET", "policy", None, "GetBucketPolicy", "admin", policies.get),
            Operation("bucket", "PUT", "policy", None, "PutBucketPolicy", "admin", policies.put),
            Operation("bucket", "DELETE", "policy", None, "DeleteBucketPolicy", "admin", policies.delete),
            Operation("bucket", "GET", "policyStatus", None, "GetBucketPolicyStatus", "read", policies.status),
            Operation("bucket", "GET", "publicAccessBlock", None, "GetPublicAccessBlock", "read", blocks.get),
            Operation("bucket", "PUT", "publicAccessBlock", None, "PutPublicAccessBlock", "admin", blocks.put),
            Operation("bucket", "DELETE", "publicAccessBlock", None, "DeletePublicAccessBlock", "admin",
                      blocks.delete),
            Operation("bucket", "GET", "notification", None, "GetBucketNotificationConfiguration", "read",
                      notifications.get),
            Operation("bucket", "PUT", "notification", None, "PutBucketNotificationConfiguration", "admin",
                      notifications.put),
            Operation("bucket", "GET", "tagging", None, "GetBucketTagging", "read", tagging.get_bucket),
            Operation("bucket", "PUT", "tagging", None, "PutBucketTagging", "admin", tagging.put_bucket),
            Operation("bucket", "DELETE", "tagging", None, "DeleteBucketTagging", "admin", tagging.delete_bucket),
            Operation("bucket", "GET", "versions", None, "ListObjectVersions", "read", listing.versions,
                      acl=BUCKET_READ),
            Operation("bucket", "GET", "uploads", None, "ListMultipartUploads", "read", multipart.list_uploads),
            Operation("bucket", "GET", "list-type", None, "ListObjectsV2", "read", listing.list_v2, acl=BUCKET_READ),
            Operation("bucket", "GET", None, None, "ListObjects", "read", listing.list_v1, acl=BUCKET_READ),
            Operation("bucket", "HEAD", None, None, "HeadBucket", "read", buckets.head, acl=BUCKET_READ),
            Operation("bucket", "PUT", None, None, "CreateBucket", "admin", buckets.create),
            Operation("bucket", "DELETE", None, None, "DeleteBucket", "admin", buckets.delete),
            Operation("bucket", "POST", "delete", None, "DeleteObjects", "delete", objects.delete_many,
                      acl=BUCKET_WRITE),
            Operation("bucket", "POST", None, None, "PostObject", "form", forms.post),
            Operation("object", "GET", "acl", None, "GetObjectAcl", "read", buckets.object_acl, public=True),
            Operation("object", "PUT", "acl", None, "PutObjectAcl", "write", buckets.put_object_acl),
            Operation("object", "GET", "uploadId", None, "ListParts", "create", multipart.list_parts),
            Operation("object", "GET", "attributes", None, "GetObjectAttributes", "read", objects.attributes,
                      public=True),
            Operation("object", "GET", "tagging", None, "GetObjectTagging", "read", tagging.get_object),
            Operation("object", "PUT", "tagging", None, "PutObjectTagging", "write", tagging.put_object),
            Operation("object", "DELETE", "tagging", None, "DeleteObjectTagging", "write", tagging.delete_object),
            Operation("object", "GET", "retention", None, "GetObjectRetention", "read", locks.get_retention),
            Operation("object", "PUT", "retention", None, "PutObjectRetention", "write", locks.put_retention),
            Operation("object", "GET", "legal-hold", None, "GetObjectLegalHold", "read", locks.get_legal_hold),
            Operation("object", "PUT", "legal-hold", None, "PutObjectLegalHold", "write", locks.put_legal_hold),
            Operation("object", "PUT", "partNumber&uploadId", "x-amz-copy-source", "UploadPartCopy", "create",
                      multipart.copy_part, acl=BUCKET_WRITE),
            Operation("object", "PUT", "partNumber&uploadId", None, "UploadPart", "create", multipart.upload_part,
                      acl=BUCKET_WRITE),
            Operation("object", "POST", "uploads", None, "CreateMultipartUpload", "create", multipart.create,
                      acl=BUCKET_WRITE),
            Operation("object", "POST", "uploadId", None, "CompleteMultipartUpload", "create",
                      multipart.complete, acl=BUCKET_WRITE),
            Operation("object", "DELETE", "uploadId", None, "AbortMultipartUpload", "create", multipart.abort,
                      acl=BUCKET_WRITE),
            Operation("object", "GET", None, None, "GetObject", "read", objects.get, public=True, acl=OBJECT_READ),
            Operation("object", "HEAD", None, None, "HeadObject", "read", objects.get, public=True, acl=OBJECT_READ),
            Operation("object", "GET", "partNumber", None, "GetObject", "read", objects.get, public=True),
            Operation("object", "HEAD", "partNumber", None, "HeadObject", "read", objects.get, public=True),
            Operation("object", "PUT", None, "x-amz-copy-source", "CopyObject", "create", objects.copy,
                      acl=BUCKET_WRITE),
            Operation("object", "PUT", None, None, "PutObject", "create", objects.put, acl=BUCKET_WRITE),
            Operation("object", "DELETE", None, None, "DeleteObject", "delete", objects.delete, acl=BUCKET_WRITE),
        ]
        # The rows of each place and method, in the table's order (the first
        # that matches wins); ``plain``: those a request without a query may
        # be (most reads and writes of objects: two rows to try, not eight).
        self.rows: Dict[Tuple[str, str], List[Operation]] = {}
        self.plain: Dict[Tuple[str, str], List[Operation]] = {}
        for row in self.table:
            self.rows.setdefault((row.level, row.method), []).append(row)
            if row.query is None:
                self.plain.setdefault((row.level, row.method), []).append(row)

    def site(self) -> Site:
        router = Router()
        handlers = {method: self.dispatch for method in METHODS}
        needs = {method: None for method in METHODS}  # each request is checked here: signatures, not tokens
        # A bucket's path may end with a slash (minio-go and s3cmd send /BUCKET/).
        for pattern in ("/", "/{bucket}", "/{bucket}/", "/{bucket}/{key...}"):
            router.add(pattern, "s3", handlers, needs, head=False, query=None)
        return Site("s3", router, self.app.access.grant, self.answer_failure, self.resolve, ready_made=False,
                    settled=self.settled_answer,
                    check_port=lambda headers, query: wrong_port.check_s3(headers, query, self.app.ports.get("main")))

    def resolve(self, host: str) -> Tuple[str, str]:
        self.mode, self.why = resolve_mode(self.app.config.auth, host, self.app.config.trusted_proxy)
        return self.mode, self.why

    def mode_for(self, headers) -> str:
        """As ``access.gate.Access.mode_for``: ``auto`` resolved to ``off``
        on loopback judges a request through a proxy as ``writes``."""
        if self.mode == "off" and self.app.config.auth == "auto" and through_proxy(headers):
            return "writes"
        return self.mode

    def settled_answer(self, method: str, target: str, headers: Headers, client: Callable[[], str]
                       ) -> Optional[Settled]:
        """A plain GET or HEAD of a key answered, before it is routed, from
        its settled answer (``answered``): the one ``dispatch`` finds for it
        after routing, at the same records' generation, mode and access key
        (without credentials, none; signed by a token's key, its signature
        checked here as ``dispatch`` checks it, by ``client``'s address).
        None: the full path (no such answer, anything else asked, or a
        signature that does not hold: the full path refuses and counts it)."""
        if "?" in target or not (plain("", headers) and settles(headers)) or (
                "Transfer-Encoding" in headers or headers.get("Content-Length", "0") != "0"):
            return None  # (a GET with a body: the full path reads it)
        bucket, slash, key = target[1:].partition("/")
        if not (slash and key):
            return None
        if "%" in target:  # (else the names are as routing finds them; one it refuses was never kept)
            try:
                bucket, key = _bucket(bucket), object_key(_decoded(key))
            except FileStoreError:
                return None  # the full path says why
        # Nothing is read, nor a signature checked, for a key with no settled
        # answer (most keys): the full path would do both again.
        judged = self.answered.settled_at(bucket, key)
        signed = "Authorization" in headers
        if judged is None or (judged[2] is not None) != signed:
            return None
        generation, mode = self.app.records.generation(), self.mode_for(headers)  # (before anything is judged)
        if (generation, mode) != judged[:2]:
            return None
        access_key = who = None
        if signed:  # (never in mode off: nothing is settled there for a signature taken unchecked)
            try:
                caller = self.signatures.caller(method, target, "", headers, mode, client(), counted=False)
            except FileStoreError:
                return None
            if caller.claim is None or caller.by_user:
                return None
            access_key, who = caller.claim.access_key, logged(caller.principal)
        kept = self.answered.settled(bucket, key, (generation, mode, access_key))
        if kept is None:
            return None
        request_id = new_request_id()
        return Settled("s3", kept.fields + "x-amz-request-id: %s\r\n" % request_id, kept.body,
                       "GetObject" if method == "GET" else "HeadObject", request_id, who)

    def dispatch(self, request: Request, bucket: Optional[str] = None, key: Optional[str] = None) -> Response:
        if bucket is None and asks_for_page(request):  # a person's browser, not an S3 client
            return front_page(request, self.app.config.public_url, self.app.ports.get("main"))
        request_id = request.identify()
        if request.method == "OPTIONS":
            request.operation = "Preflight"
            response = self.cors.preflight(request, None if bucket is None else _bucket(bucket))
            response.headers["x-amz-request-id"] = request_id
            return response
        level = "service" if bucket is None else "bucket" if key is None else "object"
        query = request.query
        rows = (self.rows if query else self.plain).get((level, request.method), ())
        operation = next((row for row in rows if row.matches(level, request.method, query, request.headers)), None)
        if operation is None:
            request.operation = "NotImplemented"
            raise NotImplementedHere("%s of a%s %s with %s is not an S3 operation this server carries out"
                                     % (request.method, "n" if level == "object" else "", level,
                                        ", ".join(sorted(query)) or "nothing else"))
        request.operation = operation.name
        mode = self.mode_for(request.headers)
        if bucket is not None:
            bucket = _bucket(bucket)
        if key is not None:
            key = object_key(_decoded(key))
        judged_at = generation = None
        if operation.name in _SETTLING and plain(request.raw_query, request.headers) and settles(request.headers):
            generation = self.app.records.generation()  # before anything is judged: a change after it shows
            if generation is not None and "Authorization" not in request.headers:
                judged_at = (generation, mode, None)
                kept = self.answered.settled(bucket, key, judged_at)
                if kept is not None:
                    return _settled_answer(kept, request_id)
        caller = self.signatures.caller(request.method, request.path, request.raw_query, request.headers,
                                        mode, request.client)
        request.actor = caller.principal
        if generation is not None and judged_at is None and caller.claim is not None and not caller.by_user:
            judged_at = (generation, mode, caller.claim.access_key)  # its signature proved just now
            kept = self.answered.settled(bucket, key, judged_at)
            if kept is not None:
                return _settled_answer(kept, request_id)
        need = operation.need(bucket, key)
        decision = self._policy(request, caller, operation, bucket, key)
        allowed = decision is not None and decision.allowed
        # A token's scopes may let in what no policy allowed; a user has policies only (and an ACL's grants).
        judged_here = need is not None and not (caller.by_user and operation.name in JUDGED_PER_KEY)
        if judged_here and not allowed and (caller.by_user or not may(caller, need)):  # (asked once)
            if operation.acl is not None:
                caller = widened(self.app, caller, operation.acl, bucket, key, query.get("versionId"), request)
            if caller.by_user:
                allow_user(caller, need, action_of(operation.name, query.get("versionId")), bucket, key)
            else:
                allow(caller, need, decision.why("bucket policy") if decision is not None else None)
        refuse_unmet(operation.name, request.headers)
        response = operation.handler(request, caller, bucket, key)
        response.headers["x-amz-request-id"] = request_id
        if judged_at is not None and decision is None:  # judged by the records and the mode alone (``answered``)
            if isinstance(response, ObjectResponse) and response.keep is not None:
                keep = response.keep
                response.keep = lambda fields, body, still_current: keep(fields, body, still_current, judged_at)
            elif isinstance(response, PreparedResponse):
                self.answered.settle(bucket, key, response, judged_at)
        if bucket is not None and "Origin" in request.headers:  # a browser's: the bucket's CORS rules say
            response.headers.update(self.cors.answer_headers(request.headers, request.method,
                                                             self.app.buckets.get(bucket)))
        return response

    def _policy(self, request: Request, caller, operation: Operation, bucket: Optional[str], key: Optional[str]
                ) -> Optional[Decision]:
        """What the bucket's policy (and a user's own) says of the request
        (``policies``; None: no policy to judge): a Deny refuses it here
        (but an admin's management of the policy itself)."""
        found = None
        try:
            if bucket is not None:
                found = BucketHandle.open(self.app, bucket, request).bucket  # (the operation finds the same)
        except NotFound:
            pass  # the operation says so (or makes it)
        managing = operation.name in MANAGING and may(caller, Need(ADMIN))
        action = action_of(operation.name, request.query.get("versionId"))
        def existing_tags() -> Optional[Dict[str, str]]:
            try:
                return BucketHandle.open(self.app, bucket, request).read(key, request.query.get("versionId")).tags
            except FileStoreError:  # none there (the operation says so)
                return None
        return enforced(self.app.config, found, request, caller, action, key, managing, bucket, existing_tags)

    def answer_failure(self, error: BaseException, headers, target: str, request: Optional[Request] = None
                       ) -> Response:
        if isinstance(error, WrongPort):  # a request of the main port's clients: told as they read it
            return error_response(error)
        path = target.partition("?")[0]
        request_id = request.identify() if request is not None else "-"
        answer = answers.error_answer(error, _decoded(path, strict=False), request_id)
        if request is not None and "Origin" in headers and request.method != "OPTIONS":
            answer.headers.update(self._cors_of_failure(request, path))
        return answer

    def _cors_of_failure(self, request: Request, path: str) -> Dict[str, str]:
        """A failure's CORS headers, as its bucket's rules give them (a page
        must be able to read a 404); none where the path names no bucket."""
        name = path.lstrip("/").partition("/")[0]
        try:
            found = self.app.buckets.get(_bucket(name)) if name else None
        except FileStoreError:
            return {}
        return self.cors.answer_headers(request.headers, request.method, found)


def _settled_answer(kept, request_id: str) -> Response:
    response = PreparedResponse(200, kept.fields, kept.body)
    response.headers["x-amz-request-id"] = request_id
    return response


def _bucket(text: str) -> str:
    """A bucket named in a path: S3's names, or any repository's (a bucket
    made through the S3 API has S3's name; ``/data`` repositories may not)."""
    try:
        repository(text)
    except FileStoreError:
        raise BadRequest("no bucket may be named %r" % text[:80]).as_s3("InvalidBucketName") from None
    return text


def _decoded(text: str, strict: bool = True) -> str:
    try:
        return unquote(text, errors="strict")
    except UnicodeDecodeError:
        if not strict:
            return unquote(text, errors="replace")
        raise BadRequest("the key is not UTF-8 once percent-decoded").as_s3("InvalidArgument") from None

