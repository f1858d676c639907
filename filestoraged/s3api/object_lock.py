"""The S3 API's object lock: a bucket's configuration (its default
retention), a version's retention and legal hold, and the lock headers of
PutObject, CopyObject and CreateMultipartUpload. What a lock forbids is
judged in the catalog (``catalog.retention``), for every face that deletes.

A bucket gets object lock when it is made with it
(``x-amz-bucket-object-lock-enabled: true``) or by
PutObjectLockConfiguration once its versioning is enabled; it is never
turned off, and its versioning is never suspended. Bypassing a GOVERNANCE
retention asks for ``x-amz-bypass-governance-retention: true`` from an
``admin`` key.
"""

from __future__ import annotations

from typing import Dict, Optional

from ..access.scopes import ADMIN, Need
from ..catalog.buckets import Bucket
from ..catalog.handle import BucketHandle
from ..catalog.retention import MAX_DAYS, MODES, held, kept_until, readable, retained, unreadable
from ..errors import BadRequest, Conflict, NotFound
from ..web.messages import EmptyResponse, Request, Response
from .answers import MAX_XML, Element, child, iso_time_ms, read_time, read_xml, text_of, xml_answer
from .signatures import Caller, may



class LockOperations:
    def __init__(self, app) -> None:
        self.app = app
        self.buckets = app.buckets

    def put_configuration(self, request: Request, caller: Caller, bucket: str, key: None) -> Response:
        found = self.buckets.require(bucket)
        root = read_xml(request.body(MAX_XML).read_all(), "ObjectLockConfiguration")
        if (text_of(root, "ObjectLockEnabled") or "").strip() != "Enabled":
            raise BadRequest("ObjectLockEnabled is Enabled").as_s3("MalformedXML")
        if found.versioning != "Enabled" and found.lock is None:
            raise Conflict("Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration"
                           ).as_s3("InvalidBucketState")
        lock = {}
        rule = child(root, "Rule")
        if rule is not None:
            lock["default"] = _default_retention(rule)
        self.buckets.set_lock(found, lock)
        return EmptyResponse(200)

    def get_configuration(self, request: Request, caller: Caller, bucket: str, key: None) -> Response:
        found = self.buckets.require(bucket)
        if found.lock is None:
            raise NotFound("Object Lock configuration does not exist for this bucket").as_s3(
                "ObjectLockConfigurationNotFoundError")
        items = [Element("ObjectLockEnabled", "Enabled")]
        default = found.lock.get("default")
        if default:
            items.append(Element("Rule", [Element("DefaultRetention", [Element("Mode", default["mode"]),
                                                                       Element("Days", str(default["days"]))])]))
        return xml_answer(200, "ObjectLockConfiguration", items)

    def put_retention(self, request: Request, caller: Caller, bucket: str, key: str) -> Response:
        found = self._locked(bucket)
        root = read_xml(request.body(MAX_XML).read_all(), "Retention")
        mode = (text_of(root, "Mode") or "").strip() or None
        until_text = (text_of(root, "RetainUntilDate") or "").strip() or None
        if (mode is None) != (until_text is None) or (mode is not None and mode not in MODES):
            raise BadRequest("a Retention names a Mode (GOVERNANCE or COMPLIANCE) and a RetainUntilDate, or neither"
                             ).as_s3("MalformedXML")
        until = kept_until(read_time(until_text, "the retain-until date")) if until_text else None
        now = self.app.records.now()
        bypass = bypass_asked(request, caller)
        found.relock(key, request.query.get("versionId"), lambda old: retained(old, mode, until, now, bypass))
        return EmptyResponse(200)

    def get_retention(self, request: Request, caller: Caller, bucket: str, key: str) -> Response:
        lock = self._lock_of(request, bucket, key)
        if lock.get("until") is None:
            raise NotFound("the object has no retention").as_s3("NoSuchObjectLockConfiguration")
        return xml_answer(200, "Retention", [Element("Mode", lock["mode"]),
                                             Element("RetainUntilDate", iso_time_ms(float(lock["until"])))])

    def put_legal_hold(self, request: Request, caller: Caller, bucket: str, key: str) -> Response:
        found = self._locked(bucket)
        status = (text_of(read_xml(request.body(MAX_XML).read_all(), "LegalHold"), "Status") or "").strip()
        if status not in ("ON", "OFF"):
            raise BadRequest("a LegalHold's Status is ON or OFF").as_s3("MalformedXML")
        found.relock(key, request.query.get("versionId"), lambda old: held(old, status == "ON"))
        return EmptyResponse(200)

    def get_legal_hold(self, request: Request, caller: Caller, bucket: str, key: str) -> Response:
        lock = self._lock_of(request, bucket, key)
        if "hold" not in lock:
            raise NotFound("the object has no legal hold").as_s3("NoSuchObjectLockConfiguration")
        return xml_answer(200, "LegalHold", [Element("Status", "ON" if lock["hold"] else "OFF")])

    def _locked(self, bucket: str) -> BucketHandle:
        found = BucketHandle.open(self.app, bucket)
        if found.bucket.lock is None:
            raise BadRequest("Bucket is missing Object Lock Configuration").as_s3("InvalidRequest")
        return found

    def _lock_of(self, request: Request, bucket: str, key: str) -> dict:
        found = self._locked(bucket)
        return dict(readable(found.read(key, request.query.get("versionId")).lock, "the version"))


def lock_fields(headers, bucket: Bucket, now: float, with_body: bool = False) -> Optional[dict]:
    """The lock a write asks for in its headers (``x-amz-object-lock-mode``
    with ``-retain-until-date``, ``-legal-hold``), None if none: refused
    where the bucket has no object lock, and, as S3 asks of a PutObject
    (``with_body``), without a digest of the body (``Content-MD5`` or a
    checksum)."""
    if not headers.starting("x-amz-object-lock-"):
        return None  # the usual write: one look at the names, not three
    mode = headers.get("x-amz-object-lock-mode")
    until_text = headers.get("x-amz-object-lock-retain-until-date")
    hold = headers.get("x-amz-object-lock-legal-hold")
    if mode is None and until_text is None and hold is None:
        return None
    if bucket.lock is None:
        raise BadRequest("Bucket is missing Object Lock Configuration").as_s3("InvalidRequest")
    digested = (headers.get("Content-MD5") or headers.get("x-amz-sdk-checksum-algorithm")
                or headers.get("x-amz-trailer")
                or headers.starting("x-amz-checksum-"))
    if with_body and not digested:
        raise BadRequest("Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with "
                         "Object Lock parameters").as_s3("InvalidRequest")
    lock: dict = {}
    if (mode is None) != (until_text is None) or (mode is not None and mode.strip() not in MODES):
        raise BadRequest("x-amz-object-lock-mode (GOVERNANCE or COMPLIANCE) and x-amz-object-lock-retain-until-date "
                         "come together").as_s3("InvalidArgument")
    if mode is not None and until_text is not None:
        until = kept_until(read_time(until_text, "the retain-until date"))
        if until <= now:
            raise BadRequest("the retain-until date must be in the future").as_s3("InvalidArgument")
        lock.update(mode=mode.strip(), until=until)
    if hold is not None:
        if hold.strip() not in ("ON", "OFF"):
            raise BadRequest("x-amz-object-lock-legal-hold is ON or OFF").as_s3("InvalidArgument")
        lock["hold"] = hold.strip() == "ON"
    return lock


def lock_headers(lock: Optional[dict]) -> Dict[str, str]:
    """What a GET or HEAD says of a version's lock (nothing of one that
    cannot be read: GetObjectRetention says why)."""
    if not lock or unreadable(lock):
        return {}
    headers = {}
    if lock.get("until") is not None:
        headers["x-amz-object-lock-mode"] = lock["mode"]
        headers["x-amz-object-lock-retain-until-date"] = iso_time_ms(float(lock["until"]))
    if "hold" in lock:
        headers["x-amz-object-lock-legal-hold"] = "ON" if lock["hold"] else "OFF"
    return headers


def bypass_asked(request: Request, caller: Caller) -> bool:
    """Whether the request bypasses GOVERNANCE retentions, and may."""
    return ((request.headers.get("x-amz-bypass-governance-retention") or "").strip().lower() == "true"
            and may(caller, Need(ADMIN)))


def _default_retention(rule) -> dict:
    retention = child(rule, "DefaultRetention")
    if retention is None:
        raise BadRequest("a Rule holds a DefaultRetention").as_s3("MalformedXML")
    mode = (text_of(retention, "Mode") or "").strip()
    days, years = text_of(retention, "Days"), text_of(retention, "Years")
    if mode not in MODES or (days is None) == (years is None):
        raise BadRequest("a DefaultRetention names a Mode and Days or Years").as_s3("MalformedXML")
    text = (days if days is not None else years or "").strip()
    if not (text.isascii() and text.lstrip("-").isdigit()):
        raise BadRequest("Days or Years is a whole number").as_s3("InvalidArgument")
    count = int(text) * (365 if years is not None else 1)
    if not 0 < count <= MAX_DAYS:
        raise BadRequest("a default retention is above 0 and at most 100 years").as_s3("InvalidRetentionPeriod")
    return {"mode": mode, "days": count}
