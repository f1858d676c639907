"""Put/Get/DeletePublicAccessBlock (``?publicAccessBlock``): a bucket's own
public access block, kept with the bucket; what its four settings do is
``catalog.public_access``'s."""

from __future__ import annotations

from typing import Dict

from ..catalog.public_access import SETTINGS
from ..errors import BadRequest, NotFound
from ..web.messages import EmptyResponse, Request, Response
from .answers import MAX_XML, Element, read_xml, text_of, xml_answer
from .signatures import Caller


class PublicAccessOperations:
    def __init__(self, app) -> None:
        self.buckets = app.buckets

    def put(self, request: Request, caller: Caller, bucket: str, key: None) -> Response:
        found = self.buckets.require(bucket)
        root = read_xml(request.body(MAX_XML).read_all(), "PublicAccessBlockConfiguration")
        settings: Dict[str, bool] = {}
        for name in SETTINGS:
            text = (text_of(root, name) or "false").strip().lower()
            if text not in ("true", "false"):
                raise BadRequest("%s is true or false" % name).as_s3("MalformedXML")
            settings[name] = text == "true"
        unknown = [element.tag.rsplit("}", 1)[-1] for element in root
                   if element.tag.rsplit("}", 1)[-1] not in SETTINGS]
        if unknown:
            raise BadRequest("the element %s is not a public access block's" % unknown[0][:60]).as_s3("MalformedXML")
        self.buckets.set_public_block(found, settings)
        return EmptyResponse(200)

    def get(self, request: Request, caller: Caller, bucket: str, key: None) -> Response:
        settings = self.buckets.require(bucket).public_block
        if settings is None:
            raise NotFound("The public access block configuration was not found").as_s3(
                "NoSuchPublicAccessBlockConfiguration")
        return xml_answer(200, "PublicAccessBlockConfiguration",
                          [Element(name, "true" if settings.get(name) else "false") for name in SETTINGS])

    def delete(self, request: Request, caller: Caller, bucket: str, key: None) -> Response:
        self.buckets.set_public_block(self.buckets.require(bucket), None)
        return EmptyResponse(204)

