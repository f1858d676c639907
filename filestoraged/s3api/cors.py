"""A bucket's CORS configuration (``?cors``): which web pages on other
origins a browser lets call the bucket, as S3 has it: rules of allowed
origins (one ``*`` each at most: ``https://*.example.com``), methods,
request headers, headers a page may read, and how long a browser may
keep a preflight's answer.

A preflight (``OPTIONS`` of the bucket or a key, with ``Origin`` and
``Access-Control-Request-Method``) asks no signature: ``200`` with what
the first matching rule allows, ``403`` where none matches, ``400``
without those headers. An actual request from an allowed origin gets the
same headers on its answer, failures included (a page must be able to
read a 404). The origin and headers echoed back are the request's own,
each checked to be a header value first.

``--cors-origin`` (the daemon's own setting) still answers first where it
allows the origin: a bucket's rules add nothing then.
"""

from __future__ import annotations

from typing import Dict, List, Optional

from ..base.header_values import header_value
from ..catalog.buckets import Bucket
from ..errors import BadRequest, Forbidden, NotFound
from ..web.messages import EmptyResponse, Request, Response
from ..wire.cors import Cors
from ..wire.request_head import is_field_name
from .answers import MAX_XML, Element, children, read_xml, text_of, xml_answer
from .signatures import Caller

MAX_RULES = 100
METHODS = ("GET", "PUT", "POST", "DELETE", "HEAD")
MAX_AGE = 2 ** 31 - 1


class CorsOperations:
    def __init__(self, app) -> None:
        self.app = app
        self.buckets = app.buckets
        self.daemon_wide = Cors(app.config.cors_origin)

    def put(self, request: Request, caller: Caller, bucket: str, key: None) -> Response:
        found = self.buckets.require(bucket)
        root = read_xml(request.body(MAX_XML).read_all(), "CORSConfiguration")
        rules = [_rule(item) for item in children(root, "CORSRule")]
        if not 1 <= len(rules) <= MAX_RULES:
            raise BadRequest("a CORS configuration holds 1 to %d rules" % MAX_RULES).as_s3("MalformedXML")
        self.buckets.set_cors(found, rules)
        return EmptyResponse(200)

    def get(self, request: Request, caller: Caller, bucket: str, key: None) -> Response:
        rules = self.buckets.require(bucket).cors
        if not rules:
            raise NotFound("The CORS configuration does not exist").as_s3("NoSuchCORSConfiguration")
        return xml_answer(200, "CORSConfiguration", [Element("CORSRule", _elements(rule)) for rule in rules])

    def delete(self, request: Request, caller: Caller, bucket: str, key: None) -> Response:
        self.buckets.set_cors(self.buckets.require(bucket), None)
        return EmptyResponse(204)

    def preflight(self, request: Request, bucket: Optional[str]) -> Response:
        """An ``OPTIONS`` request: a browser asking whether it may send one."""
        origin = _origin(request.headers)
        method = request.headers.get("Access-Control-Request-Method")
        if not origin or not method or bucket is None:
            raise BadRequest("Insufficient information. Origin request header needed."
                             if not origin else "a preflight names the method it asks for (Access-Control-Request-"
                             "Method) and a bucket").as_s3("BadRequest")
        asked = [name.strip().lower() for name in (request.headers.get("Access-Control-Request-Headers") or ""
                                                   ).split(",") if name.strip()]
        found = self.buckets.require(bucket)
        rule = _matching(found.cors or (), origin, method.strip(), asked)
        if rule is None:
            raise Forbidden("CORSResponse: This CORS request is not allowed. This is usually because the "
                            "evalution of Origin, request method / Access-Control-Request-Method or "
                            "Access-Control-Request-Headers are not whitelisted by the resource's CORS spec."
                            ).as_s3("AccessForbidden")
        headers = _allowing(rule, origin)
        if asked:
            headers["Access-Control-Allow-Headers"] = header_value(", ".join(asked), "Access-Control-Request-Headers",
                                                                   4096) or ""
        if rule.get("max_age") is not None:
            headers["Access-Control-Max-Age"] = str(rule["max_age"])
        return EmptyResponse(200, headers)

    def answer_headers(self, headers, method: str, bucket: Optional[Bucket]) -> Dict[str, str]:
        """The CORS headers of an actual request's answer (``bucket``: as
        the request found it): none without an ``Origin``, a rule that
        allows it and its method, or where ``--cors-origin`` answers."""
        origin = _origin(headers)
        if not origin or bucket is None or not bucket.cors or self.daemon_wide.allowed(origin) is not None:
            return {}
        rule = _matching(bucket.cors, origin, method, [])
        return {} if rule is None else _allowing(rule, origin)


def _origin(headers) -> Optional[str]:
    """The request's ``Origin``, where it may be echoed in a header as it is
    (printable ASCII); None otherwise: no rule allows it then. Never an
    error: an answer's CORS headers are added after its work was done."""
    origin = headers.get("Origin")
    if origin is None:
        return None
    try:
        return header_value(origin, "Origin", 1024)
    except BadRequest:
        return None


def _allowing(rule: dict, origin: str) -> Dict[str, str]:
    """What a matching ``rule`` says to ``origin`` (checked by ``_origin``):
    the origin (``*`` where the rule allows every one), its methods, the
    headers a page may read."""
    allowed = "*" if "*" in rule["origins"] else origin
    headers = {"Access-Control-Allow-Origin": allowed, "Access-Control-Allow-Methods": ", ".join(rule["methods"]),
               "Vary": "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"}
    if rule.get("expose"):
        headers["Access-Control-Expose-Headers"] = ", ".join(rule["expose"])
    return headers


def _matching(rules, origin: str, method: str, asked: List[str]) -> Optional[dict]:
    """The first rule that allows ``origin``, ``method`` and every header in
    ``asked`` (lower case), None if none does."""
    for rule in rules:
        if method not in rule["methods"] or not any(_fits(pattern, origin) for pattern in rule["origins"]):
            continue
        allowed = [pattern.lower() for pattern in rule.get("headers") or ()]
        if all(any(_fits(pattern, name) for pattern in allowed) for name in asked):
            return rule
    return None


def _fits(pattern: str, text: str) -> bool:
    """``text`` matches ``pattern``, whose one ``*`` stands for any run of characters."""
    if "*" not in pattern:
        return pattern == text
    head, _, tail = pattern.partition("*")
    return len(text) >= len(head) + len(tail) and text.startswith(head) and text.endswith(tail)


def _rule(item) -> dict:
    methods = [(method.text or "").strip() for method in children(item, "AllowedMethod")]
    origins = [(origin.text or "").strip() for origin in children(item, "AllowedOrigin")]
    headers = [(name.text or "").strip() for name in children(item, "AllowedHeader")]
    expose = [(name.text or "").strip() for name in children(item, "ExposeHeader")]
    if not methods or any(method not in METHODS for method in methods):
        raise BadRequest("a CORS rule allows one or more of %s" % ", ".join(METHODS)).as_s3("InvalidRequest")
    if not origins or any(not origin or origin.count("*") > 1 for origin in origins):
        raise BadRequest("a CORS rule allows one or more origins, each with one * at most").as_s3("InvalidRequest")
    for origin in origins:
        header_value(origin, "AllowedOrigin", 1024)
    if any(name.count("*") > 1 or not is_field_name(name) for name in headers):
        raise BadRequest("an AllowedHeader is a header name, with one * at most").as_s3("InvalidRequest")
    if any(not is_field_name(name) for name in expose):
        raise BadRequest("an ExposeHeader is a header name").as_s3("InvalidRequest")
    rule: dict = {"methods": methods, "origins": origins}
    if headers:
        rule["headers"] = headers
    if expose:
        rule["expose"] = expose
    identity = text_of(item, "ID")
    if identity is not None:
        if len(identity) > 255:
            raise BadRequest("a CORS rule's ID is at most 255 characters").as_s3("InvalidArgument")
        rule["id"] = identity
    age = text_of(item, "MaxAgeSeconds")
    if age is not None:
        age = age.strip()
        if not (age.isascii() and age.isdigit()) or int(age) > MAX_AGE:
            raise BadRequest("MaxAgeSeconds is a whole number of seconds").as_s3("InvalidArgument")
        rule["max_age"] = int(age)
    return rule


def _elements(rule: dict) -> List[Element]:
    items = [Element("ID", rule["id"])] if "id" in rule else []
    items += [Element("AllowedMethod", method) for method in rule["methods"]]
    items += [Element("AllowedOrigin", origin) for origin in rule["origins"]]
    items += [Element("AllowedHeader", name) for name in rule.get("headers") or ()]
    items += [Element("ExposeHeader", name) for name in rule.get("expose") or ()]
    if "max_age" in rule:
        items.append(Element("MaxAgeSeconds", str(rule["max_age"])))
    return items
