"""The S3 API's lifecycle configuration: Put/Get/DeleteBucketLifecycle
(``?lifecycle``), read into ``catalog.lifecycle.Rule``s that its sweep
carries out. What a rule may ask that this server does not do (a filter
on tags or sizes, a transition to another storage class) is refused with
``501 NotImplemented``, never taken and ignored.
"""

from __future__ import annotations

import secrets
from typing import List, Optional

from ..catalog.lifecycle import MAX_RULES, Rule, rules_of
from ..errors import BadRequest, NotFound, NotImplementedHere
from ..web.messages import EmptyResponse, Request, Response
from .answers import MAX_XML, Element, child, children, iso_time, read_time, read_xml, text_of, xml_answer
from .signatures import Caller

_NOT_DONE = ("Transition", "NoncurrentVersionTransition", "Transitions", "NoncurrentVersionTransitions")
_FILTERS_NOT_DONE = ("Tag", "And", "ObjectSizeGreaterThan", "ObjectSizeLessThan")


class LifecycleOperations:
    def __init__(self, app) -> None:
        self.app = app
        self.buckets = app.buckets

    def put(self, request: Request, caller: Caller, bucket: str, key: None) -> Response:
        found = self.buckets.require(bucket)
        root = read_xml(request.body(MAX_XML).read_all(), "LifecycleConfiguration")
        rules = [_rule(item) for item in children(root, "Rule")]
        if not rules or len(rules) > MAX_RULES:
            raise BadRequest("a lifecycle configuration holds 1 to %d rules" % MAX_RULES).as_s3("MalformedXML")
        if len({rule.id for rule in rules}) != len(rules):
            raise BadRequest("each rule's ID is its own").as_s3("InvalidArgument")
        self.buckets.set_lifecycle(found, [rule.record() for rule in rules])
        return EmptyResponse(200)

    def get(self, request: Request, caller: Caller, bucket: str, key: None) -> Response:
        rules = rules_of(self.buckets.require(bucket))
        if not rules:
            raise NotFound("The lifecycle configuration does not exist").as_s3("NoSuchLifecycleConfiguration")
        return xml_answer(200, "LifecycleConfiguration", [Element("Rule", _elements(rule)) for rule in rules])

    def delete(self, request: Request, caller: Caller, bucket: str, key: None) -> Response:
        self.buckets.set_lifecycle(self.buckets.require(bucket), None)
        return EmptyResponse(204)


def _rule(item) -> Rule:
    for name in _NOT_DONE:
        if child(item, name) is not None:
            raise NotImplementedHere("transitions to other storage classes are not carried out here: every object "
                                     "is STANDARD").as_s3("NotImplemented")
    status = (text_of(item, "Status") or "").strip()
    if status not in ("Enabled", "Disabled"):
        raise BadRequest("a rule's Status is Enabled or Disabled").as_s3("MalformedXML")
    prefix = text_of(item, "Prefix")
    found = child(item, "Filter")
    if found is not None:
        for name in _FILTERS_NOT_DONE:
            if child(found, name) is not None:
                raise NotImplementedHere("a lifecycle filter by %s is not carried out here: filter by Prefix"
                                         % name).as_s3("NotImplemented")
        prefix = text_of(found, "Prefix") if prefix is None else prefix
    rule_id = (text_of(item, "ID") or "").strip() or secrets.token_hex(8)
    if len(rule_id) > 255:
        raise BadRequest("a rule's ID is at most 255 characters").as_s3("InvalidArgument")
    fields = {"id": rule_id, "enabled": status == "Enabled", "prefix": prefix or ""}
    expiration = child(item, "Expiration")
    if expiration is not None:
        days, date = text_of(expiration, "Days"), text_of(expiration, "Date")
        markers = (text_of(expiration, "ExpiredObjectDeleteMarker") or "").strip().lower()
        if sum(value is not None for value in (days, date)) + bool(markers) != 1:
            raise BadRequest("an Expiration names Days, a Date or ExpiredObjectDeleteMarker").as_s3("MalformedXML")
        if days is not None:
            fields["expire_days"] = _count(days, "Days")
        elif date is not None:
            fields["expire_date"] = _date(date)
        else:
            fields["expired_markers"] = markers == "true"
    noncurrent = child(item, "NoncurrentVersionExpiration")
    if noncurrent is not None:
        fields["noncurrent_days"] = _count(text_of(noncurrent, "NoncurrentDays"), "NoncurrentDays")
        newer = text_of(noncurrent, "NewerNoncurrentVersions")
        if newer is not None:
            fields["newer_noncurrent"] = _count(newer, "NewerNoncurrentVersions")
    abort = child(item, "AbortIncompleteMultipartUpload")
    if abort is not None:
        fields["abort_days"] = _count(text_of(abort, "DaysAfterInitiation"), "DaysAfterInitiation")
    if len(fields) == 3 and not fields.get("expired_markers"):
        raise BadRequest("a rule asks for at least one action").as_s3("MalformedXML")
    return Rule(**fields, bare_prefix=found is None and prefix is not None)


def _elements(rule: Rule) -> List[Element]:
    prefix = Element("Prefix", rule.prefix)
    items = [Element("ID", rule.id), prefix if rule.bare_prefix else Element("Filter", [prefix]),
             Element("Status", "Enabled" if rule.enabled else "Disabled")]
    if rule.expire_days is not None:
        items.append(Element("Expiration", [Element("Days", str(rule.expire_days))]))
    elif rule.expire_date is not None:
        items.append(Element("Expiration", [Element("Date", iso_time(rule.expire_date))]))
    elif rule.expired_markers:
        items.append(Element("Expiration", [Element("ExpiredObjectDeleteMarker", "true")]))
    if rule.noncurrent_days is not None:
        inner = [Element("NoncurrentDays", str(rule.noncurrent_days))]
        if rule.newer_noncurrent:
            inner.append(Element("NewerNoncurrentVersions", str(rule.newer_noncurrent)))
        items.append(Element("NoncurrentVersionExpiration", inner))
    if rule.abort_days is not None:
        items.append(Element("AbortIncompleteMultipartUpload", [Element("DaysAfterInitiation",
                                                                        str(rule.abort_days))]))
    return items


def _count(text: Optional[str], name: str) -> int:
    text = (text or "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 6 or int(text) <= 0:
        raise BadRequest("%s is a whole number above 0" % name).as_s3("InvalidArgument")
    return int(text)


def _date(text: str) -> float:
    """An Expiration's Date: midnight UTC, as S3 asks."""
    stamp = read_time(text, "an Expiration's Date")
    if stamp % 86400:
        raise BadRequest("an Expiration's Date is at midnight UTC").as_s3("InvalidArgument")
    return stamp
