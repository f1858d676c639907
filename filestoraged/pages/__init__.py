"""Pages for people: HTML made by the daemon (standard library only), with
its CSS and script inline and a strict Content-Security-Policy that allows
exactly those (by their SHA-256), so nothing from another origin ever loads.

Who gets a page: a request whose ``Accept`` prefers ``text/html`` to JSON
(a browser navigating). curl (``*/*``), scripts and the page's own
``fetch`` calls (``application/json``) get JSON exactly as before.
"""

from __future__ import annotations

import base64
import hashlib
from html import escape
from typing import Dict, Optional

from ..web.messages import TextResponse

STYLE = """
:root{color-scheme:light dark;--fg:#1b1b1f;--bg:#f6f6f8;--card:#fff;--muted:#55575f;--accent:#1d4ed8;--bad:#b42318}
@media (prefers-color-scheme:dark){
:root{--fg:#ececf1;--bg:#15161a;--card:#202127;--muted:#b4b6bf;--accent:#8fb4ff;--bad:#ff8a80}}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:40rem;margin:0 auto;padding:1.5rem 1rem}main.wide{max-width:72rem}
h1{font-size:1.5rem;margin:0 0 1rem}
.card{background:var(--card);border-radius:.75rem;padding:1.25rem;box-shadow:0 1px 3px #0002;margin-bottom:1rem}
label{display:block;font-weight:600;margin:.75rem 0 .25rem}
input,select,textarea{width:100%;font:inherit;padding:.55rem .6rem;border:1px solid var(--muted);border-radius:.4rem;
 background:var(--bg);color:var(--fg)}
input[type=file]{padding:.5rem;border-style:dashed}
input[type=checkbox]{width:auto;margin:0 .5rem 0 0;vertical-align:middle}
.drop{border:2px dashed var(--muted);border-radius:.6rem;padding:1rem;text-align:center;margin-top:1rem}
.drop.over{border-color:var(--accent)}
.row{display:flex;gap:.75rem;flex-wrap:wrap}.row>div{flex:1 1 10rem}
button,.button{display:inline-block;font:inherit;font-weight:600;padding:.6rem 1.1rem;margin-top:1rem;
 border:0;border-radius:.4rem;background:var(--accent);color:var(--card);text-decoration:none;cursor:pointer}
button.secondary,.button.secondary{background:transparent;color:var(--accent);border:1px solid var(--accent)}
:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.muted{color:var(--muted)}.error{color:var(--bad);font-weight:600}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0}dt{color:var(--muted)}
dd{margin:0;overflow-wrap:anywhere}
progress{width:100%;height:1.1rem}
.preview img,.preview video{max-width:100%;max-height:70vh;display:block}.preview audio{width:100%}
.preview pre{max-height:24rem;overflow:auto;white-space:pre-wrap;overflow-wrap:anywhere;margin:0}
code{overflow-wrap:anywhere}
[hidden]{display:none!important}
table{width:100%;border-collapse:collapse}caption{text-align:left}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #8884;vertical-align:top}
td{overflow-wrap:anywhere}td form,form.inline,label.inline{display:inline}
td button{margin-top:0;overflow-wrap:normal;white-space:nowrap}td.words{overflow-wrap:normal}
@media (max-width:40rem){table,caption,tbody,tr,td{display:block}thead{position:absolute;left:-9999px}
 tr{padding:.5rem 0;border-bottom:1px solid #8884}td{border:0;padding:.1rem 0}
 td[data-label]::before{content:attr(data-label) ": ";color:var(--muted)}}
tr.older td{padding-left:1.5rem;font-size:.9rem;color:var(--muted)}
nav{margin-bottom:.75rem}nav a,td a,li a{color:var(--accent)}
"""


# A page's copy buttons: each ``button[data-copy]`` copies the text of the
# element its ``data-copy`` names and says so in the one ``data-said``
# names. The clipboard API exists only in a secure context (HTTPS, or
# localhost): elsewhere the text is selected for the reader to copy.
COPY_SCRIPT = r"""
function copyText(node, say) {
  const select = () => { const range = document.createRange(); range.selectNodeContents(node);
    const chosen = window.getSelection(); chosen.removeAllRanges(); chosen.addRange(range);
    say("Selected: press Ctrl+C (or \u2318C) to copy it."); };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(node.textContent).then(() => say("Copied."), select);
  } else { select(); } }
for (const button of document.querySelectorAll("button[data-copy]")) {
  button.addEventListener("click", () => copyText(document.getElementById(button.dataset.copy),
    text => { document.getElementById(button.dataset.said).textContent = text; })); }
"""


def _digest(text: str) -> str:
    return "'sha256-%s'" % base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def page(status: int, title: str, body: str, script: Optional[str] = None,
         headers: Optional[Dict[str, str]] = None, wide: bool = False, media: bool = False) -> TextResponse:
    """A whole page: ``body`` is HTML already escaped by the caller;
    ``wide``: as wide as a screen of tables needs (the console), else a
    column for reading (the upload and share pages); ``media``: it shows
    pictures, sound or film from this server (a preview of a stored
    object, itself served sandboxed)."""
    policy = ("default-src 'none'; style-src %s; img-src data:%s; form-action 'self'; base-uri 'none'; "
              "frame-ancestors 'none'; connect-src 'self'" % (_digest(STYLE), " 'self'; media-src 'self'" if media
                                                               else ""))
    if script:
        policy += "; script-src " + _digest(script)
    text = ('<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            "<title>%s · filestoraged</title><style>%s</style></head><body><main%s>%s</main>%s</body></html>"
            % (escape(title), STYLE, ' class="wide"' if wide else "", body,
               "<script>%s</script>" % script if script else ""))
    fields = {"Content-Security-Policy": policy, "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    fields.update(headers or {})
    return TextResponse(status, text, "text/html; charset=utf-8", fields)


def size_text(size: int) -> str:
    """``1.5 MiB``-style sizes for people."""
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            if unit == "bytes":
                return "1 byte" if size == 1 else "%d bytes" % size
            return "%.1f %s" % (value, unit)
        value /= 1024
    return "%d bytes" % size


# What a person can do next, by status: the answer's own message says what happened.
NEXT_STEP = {
    401: "Enter the password you were given with the link.",
    403: "Ask whoever runs this server for access.",
    404: "Check the address for typing mistakes, or ask whoever sent it for a new link.",
    410: "Ask whoever sent you the link to share the file again.",
    413: "Send a smaller file, or ask whoever runs this server to raise the limit.",
    429: "Wait a minute, then try again.",
    507: "Tell whoever runs this server: it is out of space.",
}


def error_page(status: int, message: str, headers: Optional[Dict[str, str]] = None) -> TextResponse:
    """A readable page for a failure: the JSON error's message in words, and
    what to do next."""
    titles = {401: "A password is needed", 403: "Not allowed", 404: "Nothing here", 410: "This link is gone",
              429: "Too many attempts", 413: "Too large", 507: "The store is full"}
    title = titles.get(status, "Something went wrong" if status >= 500 else "That did not work")
    if "Authorization: Bearer" in message:  # a person has no header to set: say it their way
        message = "This server asks for an API token for this"
        next_step = "Paste your API token in the upload page's first field, or ask whoever runs this server for one."
    else:
        next_step = NEXT_STEP.get(status, "Try again in a moment." if status >= 500 else "")
    text = message[:1].upper() + message[1:]
    body = ('<h1>%s</h1><div class="card"><p>%s.</p>%s<p class="muted">HTTP %d</p>'
            '<a class="button" href="/">Upload a file</a></div>'
            % (escape(title), escape(text.rstrip(".")), '<p>%s</p>' % escape(next_step) if next_step else "",
               status))
    fields = {name: value for name, value in (headers or {}).items() if name != "WWW-Authenticate"}
    return page(status, title, body, headers=fields)
