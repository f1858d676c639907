"""Compact JSON text made and read by JSON's C encoder and scanner,
called directly. ``json.dumps`` and ``JSONEncoder.encode`` run some twenty
lines of Python a call to make an encoder, and ``json.loads`` a dozen to
reach the scanner: every record a write makes and every JSON answer went
through them. Values here are plain JSON, never circular, so no cycle is
checked for. Where the C encoder is missing or takes other arguments,
``JSONEncoder.encode`` as before."""

from __future__ import annotations

import json
from json.encoder import c_make_encoder, encode_basestring, encode_basestring_ascii
from typing import Any, Callable


def compact_encoder(ensure_ascii: bool) -> Callable[[Any], str]:
    """A function from a value to its compact JSON text (no spaces after
    separators), with non-ASCII characters escaped or not."""
    slow = json.JSONEncoder(separators=(",", ":"), ensure_ascii=ensure_ascii).encode
    if c_make_encoder is None:
        return slow
    try:
        encoder = c_make_encoder(None, slow.__self__.default,
                                 encode_basestring_ascii if ensure_ascii else encode_basestring,
                                 None, ":", ",", False, False, True)
        sample = {"a": [1, 2.5, None, True, "\u00e9\n\u2028"], "b": {}, "c": 10 ** 20}
        if "".join(encoder(sample, 0)) != slow(sample):
            return slow
    except TypeError:
        return slow
    return lambda value: "".join(encoder(value, 0))


_scan = json.JSONDecoder().scan_once


def parsed(text: str) -> Any:
    """The value of JSON ``text``: the C scanner called directly; text with
    anything around the value goes to ``json.loads``, which reads it or
    says what is wrong."""
    try:
        value, end = _scan(text, 0)
    except StopIteration:
        return json.loads(text)
    return value if end == len(text) else json.loads(text)
