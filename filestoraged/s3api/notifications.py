"""A bucket's notification configuration (``?notification``), as S3 has
it: ``QueueConfiguration`` elements, each naming one of the webhooks the
operator defined by its ARN (``arn:filestoraged:sqs::<name>:webhook``),
the events it wants and an optional key filter (a prefix, a suffix).
Kept in the bucket's record (``catalog.notifications``); an empty
configuration removes it. ``TopicConfiguration`` and
``CloudFunctionConfiguration`` name AWS services this store does not
reach: refused, as is an ARN of no webhook defined here."""

from __future__ import annotations

from typing import List

from ..catalog.notifications import EVENTS, Webhooks, arn_of, hook_of
from ..errors import BadRequest
from ..web.messages import EmptyResponse, Request, Response
from .answers import MAX_XML, Element, children, local_name, read_xml, text_of, xml_answer
from .signatures import Caller

MAX_CONFIGURATIONS = 100


class NotificationOperations:
    def __init__(self, app) -> None:
        self.buckets = app.buckets
        self.webhooks = Webhooks(app.records)

    def put(self, request: Request, caller: Caller, bucket: str, key: None) -> Response:
        found = self.buckets.require(bucket)
        root = read_xml(request.body(MAX_XML).read_all(), "NotificationConfiguration")
        others = sorted({local_name(item.tag) for item in root} - {"QueueConfiguration"})
        if others:  # (Topic, CloudFunction, EventBridge: AWS's services, which this store does not reach)
            raise BadRequest("only QueueConfiguration elements naming a webhook of this server's are kept "
                             "(docs/events.md), not %s" % ", ".join(others)).as_s3("InvalidArgument")
        configs = [self._config(item) for item in children(root, "QueueConfiguration")]
        if len(configs) > MAX_CONFIGURATIONS:
            raise BadRequest("a notification configuration holds at most %d elements" % MAX_CONFIGURATIONS
                             ).as_s3("InvalidArgument")
        self.buckets.set_notifications(found, configs or None)
        return EmptyResponse(200)

    def get(self, request: Request, caller: Caller, bucket: str, key: None) -> Response:
        configs = self.buckets.require(bucket).notifications or []
        return xml_answer(200, "NotificationConfiguration",
                          [Element("QueueConfiguration", _elements(config)) for config in configs])

    def _config(self, item) -> dict:
        _only(item, ("Id", "Queue", "Event", "Filter"))
        hook = hook_of(text_of(item, "Queue") or "")
        if hook is None or self.webhooks.get(hook) is None:
            raise BadRequest("the Queue is the ARN of a webhook defined on this server "
                             "(arn:filestoraged:sqs::NAME:webhook; filestoraged bucket webhook NAME URL SECRET-FILE)"
                             ).as_s3("InvalidArgument")
        events = [(event.text or "").strip() for event in children(item, "Event")]
        if not events or any(event not in EVENTS for event in events):
            raise BadRequest("the events are one or more of %s" % ", ".join(EVENTS)).as_s3("InvalidArgument")
        config = {"id": (text_of(item, "Id") or "")[:255], "hook": hook, "events": events}
        for rule in _filter_rules(item):
            name, value = (text_of(rule, "Name") or "").strip().lower(), text_of(rule, "Value") or ""
            if name not in ("prefix", "suffix") or name in config or len(value.encode("utf-8")) > 1024:
                raise BadRequest("a key filter has one prefix and one suffix at most, each at most 1024 bytes"
                                 ).as_s3("InvalidArgument")
            config[name] = value
        return config


def _filter_rules(item) -> List:
    found = []
    for outer in children(item, "Filter"):
        _only(outer, ("S3Key",))
        for key in children(outer, "S3Key"):
            _only(key, ("FilterRule",))
            found.extend(children(key, "FilterRule"))
    return found


def _only(element, known) -> None:
    """``BadRequest`` (InvalidArgument) naming a child of ``element`` this
    server does not carry out: never kept and ignored."""
    unknown = sorted({local_name(child.tag) for child in element} - set(known))
    if unknown:
        raise BadRequest("%s is not carried out here (%s holds %s)" % (
            ", ".join(unknown), local_name(element.tag), ", ".join(known))).as_s3("InvalidArgument")


def _elements(config: dict) -> List[Element]:
    items = [Element("Id", config["id"])] if config.get("id") else []
    items.append(Element("Queue", arn_of(config["hook"])))
    items += [Element("Event", event) for event in config["events"]]
    rules = [Element("FilterRule", [Element("Name", name), Element("Value", config[name])])
             for name in ("prefix", "suffix") if name in config]
    if rules:
        items.append(Element("Filter", [Element("S3Key", rules)]))
    return items
