"""Who gets a share link's landing page instead of its file: the rule that
decides whether a GET spends a download.

A request either gets the file and spends a download, or gets the landing
page (which never counts) and nothing else. The landing page goes to

- link-preview agents, recognised by their ``User-Agent`` (chat apps and
  social sites fetch a pasted link to show a card): always, whatever their
  ``Accept``, ``?download`` included;
- prefetches (``Sec-Purpose: prefetch``, ``Purpose: prefetch``,
  ``X-Moz: prefetch``): a browser guessing what the user may open next;
- without ``?download``: a browser's navigation (``Sec-Fetch-Mode:
  navigate`` or ``Sec-Fetch-Dest: document``), and any request whose ``Accept`` names HTML (``text/html`` or
  ``application/xhtml+xml``) at least as high as JSON.

Everything else gets the file: curl (``Accept: */*``), wget, scripts, no
``Accept`` at all, ``image/webp,*/*`` (what image viewers send).
"""

from __future__ import annotations

import re

from ..wire.accept import names_html

# Substrings of the User-Agent of well-known link-preview fetchers.
PREVIEW_AGENTS = (
    "slackbot", "slack-imgproxy", "facebookexternalhit", "facebookcatalog", "twitterbot", "discordbot",
    "linkedinbot", "telegrambot", "whatsapp", "skypeuripreview", "microsoftpreview", "teams", "applebot",
    "redditbot", "mastodon", "pinterest", "vkshare", "embedly", "iframely", "googlebot", "bingbot",
    "bitlybot", "zoom", "mattermost", "rocket.chat", "signal", "viber", "line/", "snapchat", "tumblr",
)
_PREVIEW = re.compile("|".join(re.escape(agent) for agent in PREVIEW_AGENTS))


def is_preview_agent(headers) -> bool:
    return _PREVIEW.search((headers.get("User-Agent") or "").lower()) is not None


def is_prefetch(headers) -> bool:
    purpose = " ".join(headers.get(name) or "" for name in ("Sec-Purpose", "Purpose", "X-Moz")).lower()
    return "prefetch" in purpose or "prerender" in purpose


def landing_only(headers, query) -> bool:
    """True if this GET gets the landing page, never the file (see the module)."""
    if is_preview_agent(headers) or is_prefetch(headers):
        return True
    if "download" in query:
        return False
    return ((headers.get("Sec-Fetch-Mode") or "").lower() == "navigate"
            or (headers.get("Sec-Fetch-Dest") or "").lower() == "document" or names_html(headers))
