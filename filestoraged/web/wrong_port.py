"""Requests sent to the daemon's other port: an S3 client's signed request
on the main port (an ``--endpoint-url`` with the wrong port), or a request
with a token (the command-line client, curl) on the S3 API's port. Each is
refused (``WrongPort``, 421) before it is routed, in its client's own
language (S3's XML to an S3 client, JSON to ours), with the right port in
the message, rather than answered as something it is not: the upload page,
or S3's refusal of a signature it never sent."""

from __future__ import annotations

from typing import Optional

from ..errors import WrongPort


def signed_for_s3(headers, query: str) -> bool:
    """Whether a request is signed as an S3 client signs (a SigV4 or
    SigV2 header, or a presigned URL's query)."""
    authorization = headers.get("Authorization", "")
    return authorization.startswith(("AWS4-HMAC-SHA256 ", "AWS ")) or "X-Amz-Signature=" in query or (
        "Signature=" in query and "AWSAccessKeyId=" in query)


def with_token(headers) -> bool:
    """Whether a request carries a token as the main port takes it (Bearer or Basic)."""
    scheme = headers.get("Authorization", "")[:7].lower()
    return scheme == "bearer " or scheme.startswith("basic ")


def check_main(headers, query: str, s3: Optional[int]) -> None:
    """On the main port: an S3 client's request is refused, naming the S3
    API's port (``s3``; None: the daemon serves none)."""
    if signed_for_s3(headers, query):
        raise WrongPort(("this is filestoraged's HTTP port: its S3 API is on port %d (--endpoint-url "
                         "http://HOST:%d)" % (s3, s3)) if s3 else
                        "this is filestoraged's HTTP port, and this daemon serves no S3 API (--s3-api PORT)"
                        ).as_s3("WrongPort")


def check_s3(headers, query: str, main: Optional[int]) -> None:
    """On the S3 API's port: a request with a token is refused, naming the
    main port (``main``; None where it is not known yet)."""
    if with_token(headers) and not signed_for_s3(headers, query):
        raise WrongPort("this is filestoraged's S3 API port: its HTTP API, and the filestoraged client, are on "
                        "port %s" % (main if main else "the one --port names"))
