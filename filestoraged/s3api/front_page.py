"""What a browser sees at the S3 API's port: not S3's XML refusal of an
unsigned ListBuckets, but a short page that says what the port is for and
where people go instead (the console, on the main port)."""

from __future__ import annotations

from html import escape
from typing import Optional
from urllib.parse import urlsplit

from ..pages import page
from ..web.messages import Request, TextResponse
from ..wire.accept import prefers_html


def asks_for_page(request: Request) -> bool:
    """A browser's plain ``GET /``: HTML asked for, nothing signed, no
    query (an S3 client never asks for HTML)."""
    return (request.method in ("GET", "HEAD") and not request.raw_query and "Authorization" not in request.headers
            and prefers_html(request.headers))


def front_page(request: Request, public_url: str, main_port: Optional[int]) -> TextResponse:
    console = console_address(request.base_url, public_url, main_port)
    endpoint = request.base_url
    body = ('<h1>The S3 API</h1><div class="card"><p>This address is filestoraged&#39;s S3 API, for S3 clients: '
            'the aws CLI, rclone, restic, boto3 and the like, with <code>--endpoint-url %s</code> and a key pair '
            '(<code>filestoraged token create --s3</code>).</p><p>To see and manage the files in a browser, open the '
            'console: <a href="%s">%s</a>.</p></div>' % (escape(endpoint), escape(console), escape(console)))
    return page(200, "The S3 API", body)


def console_address(base_url: str, public_url: str, main_port: Optional[int]) -> str:
    """The console's address: under ``--public-url`` where one is set, else
    on the main port of the host the browser asked for."""
    if public_url:
        return public_url.rstrip("/") + "/console"
    parts = urlsplit(base_url)
    host = parts.hostname or "localhost"
    netloc = ("[%s]" % host if ":" in host else host) + (":%d" % main_port if main_port else "")
    return "%s://%s/console" % (parts.scheme or "http", netloc)
