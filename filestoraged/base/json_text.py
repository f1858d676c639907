"""JSON text: compact, made and read by JSON's C encoder and scanner
called directly; and bounded or strict, for text from outside the process.

Compact: ``json.dumps`` and ``JSONEncoder.encode`` run some twenty
lines of Python a call to make an encoder, and ``json.loads`` a dozen to
reach the scanner: every record a write makes and every JSON answer went
through them. Values here are plain JSON, never circular, so no cycle is
checked for. Where the C encoder is missing or takes other arguments,
``JSONEncoder.encode`` as before.

Bounded and strict, for text from outside: ``json.loads`` alone answers
nesting deeper than its scanner follows with a ``RecursionError``, which a
request's handler would answer 500. Decision: text from outside nests at
most ``MAX_DEPTH`` arrays and objects deep (MongoDB's limit for a
document). Deeper, a value the scanner took in a request's thread could
fail where it is read back further down the stack (a key-value commit did,
every commit after it). ``bounded`` is ``json.loads`` so bounded, for
documents this daemon has always read with it (policies, an identity
provider's answers: a stored policy must read as it did); ``strict`` also
refuses what ``json.loads`` takes and RFC 8259 does not (``NaN``, numbers
past a double, lone surrogates), for request bodies.
"""

from __future__ import annotations

import json
from json.encoder import c_make_encoder, encode_basestring, encode_basestring_ascii
from typing import Any, Callable, Union

MAX_DEPTH = 100  # arrays and objects, one in another, in JSON from outside (``bounded``, ``strict``)
_TOO_DEEP = "JSON nests at most %d levels of arrays and objects" % MAX_DEPTH


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


def bounded(text: Union[str, bytes]) -> Any:
    """The value of JSON ``text`` that came from outside, as ``json.loads``
    reads it, at most ``MAX_DEPTH`` arrays and objects one inside another;
    ``ValueError`` saying what is wrong otherwise."""
    return _loaded(text)


def strict(text: Union[str, bytes]) -> Any:
    """``bounded``, and RFC 8259's JSON only: UTF-8 without lone
    surrogates, no ``NaN`` or ``Infinity``, numbers that fit a double;
    ``ValueError`` saying what is wrong otherwise (``UnicodeError`` is one)."""
    value = _loaded(text.decode("utf-8") if isinstance(text, bytes) else text,
                    parse_constant=_not_json, parse_float=_finite)
    json.dumps(value, ensure_ascii=False).encode("utf-8")  # lone surrogates (from \\ud800) fail here
    return value


def _loaded(text: Union[str, bytes], **options: Any) -> Any:
    try:
        value = json.loads(text, **options)
    except RecursionError:
        raise ValueError(_TOO_DEEP) from None
    opened = text.count(b"[") + text.count(b"{") if isinstance(text, bytes) else text.count("[") + text.count("{")
    if opened > MAX_DEPTH and not _within(value, MAX_DEPTH):  # (fewer brackets cannot nest deeper)
        raise ValueError(_TOO_DEEP)
    return value


def _within(value: Any, most: int) -> bool:
    """Whether ``value`` nests at most ``most`` arrays and objects deep
    (walked without recursion: only its containers are visited)."""
    stack = [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack:
        container, depth = stack.pop()
        if depth > most:
            return False
        for item in (container.values() if isinstance(container, dict) else container):
            if isinstance(item, (dict, list)):
                stack.append((item, depth + 1))
    return True


def _not_json(constant: str) -> Any:
    raise ValueError("%s is not JSON" % constant)


def _finite(text: str) -> float:
    number = float(text)
    if number in (float("inf"), float("-inf")):
        raise ValueError("%s does not fit a double" % text[:40])
    return number
