"""What a set of tags may be, an object version's or a bucket's, judged
once for every face that sets them (the S3 API, the console): at most 10
an object (50 a bucket), keys of 1-128 characters, values of up to 256,
no control character, no key twice (S3's ``InvalidTag``); kept in the
order of their keys."""

from __future__ import annotations

import unicodedata
from typing import Dict, List

from ..errors import BadRequest

MAX_OBJECT_TAGS = 10
MAX_BUCKET_TAGS = 50
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256


def checked_tags(pairs: List[tuple], most: int) -> Dict[str, str]:
    """``(key, value)`` pairs as tags, if they may be (``BadRequest`` naming
    the first fault), at most ``most`` of them."""
    if len(pairs) > most:
        raise BadRequest("at most %d tags, not %d" % (most, len(pairs))).as_s3("InvalidTag")
    tags: Dict[str, str] = {}
    for name, value in pairs:
        if not 1 <= len(name) <= MAX_TAG_KEY:
            raise BadRequest("a tag's key is 1-%d characters" % MAX_TAG_KEY).as_s3("InvalidTag")
        if len(value) > MAX_TAG_VALUE:
            raise BadRequest("a tag's value is at most %d characters" % MAX_TAG_VALUE).as_s3("InvalidTag")
        if any(unicodedata.category(char) in ("Cc", "Cs") for char in name + value):
            raise BadRequest("a tag holds no control character").as_s3("InvalidTag")
        if name in tags:
            raise BadRequest("the tag key %s is given twice" % name[:MAX_TAG_KEY]).as_s3("InvalidTag")
        tags[name] = value
    return dict(sorted(tags.items()))
