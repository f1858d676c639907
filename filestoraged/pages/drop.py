"""The page a person opens from an upload link: the owner's note, the
link's limits, a field for their name (and the password, where the link
has one), and a place to drop files or choose them. Each file goes up on
its own (``PUT`` to the link, the page's own address: the secret is never
written into the page), showing its progress, rate and time left, then
its name and size as stored; the list is of what this page sent, never of
anything else in the folder."""

from __future__ import annotations

from html import escape

from ..base.timestamps import time_element
from ..web.messages import TextResponse
from . import page, size_text

DROP_SCRIPT = """
const list = document.getElementById("sent"), input = document.getElementById("files");
const zone = document.getElementById("zone");
function row(file) {
  const li = document.createElement("li");
  const name = document.createElement("span"); name.textContent = file.name;
  const state = document.createElement("span"); state.className = "muted"; state.textContent = " waiting";
  const bar = document.createElement("progress"); bar.max = file.size || 1; bar.value = 0;
  li.append(name, state, bar); list.append(li); return {li, name, state, bar};
}
function seconds(s) { return s < 90 ? Math.ceil(s) + " s" : Math.ceil(s / 60) + " min"; }
function size(n) { const u = ["bytes", "KiB", "MiB", "GiB"]; let i = 0;
  while (n >= 1024 && i < 3) { n /= 1024; i++; } return (i ? n.toFixed(1) : n) + " " + u[i]; }
function send(file, shown) {
  return new Promise((done) => {
    const request = new XMLHttpRequest(), started = Date.now();
    request.open("PUT", location.pathname.replace(/\\/$/, "") + "/" + encodeURIComponent(file.name));
    const who = document.getElementById("uploader").value, password = document.getElementById("password");
    if (who) request.setRequestHeader("X-Uploader-Name", unescape(encodeURIComponent(who)));
    if (password && password.value) request.setRequestHeader("X-Password", password.value);
    request.upload.onprogress = (e) => {
      const rate = e.loaded / Math.max(0.001, (Date.now() - started) / 1000);
      shown.bar.value = e.loaded;
      shown.state.textContent = " " + size(e.loaded) + " of " + size(e.total) + ", " + size(rate) + "/s, " +
        seconds((e.total - e.loaded) / Math.max(rate, 1)) + " left";
    };
    request.onload = () => {
      let answer = {}; try { answer = JSON.parse(request.responseText); } catch (e) {}
      if (request.status === 201) {
        shown.name.textContent = answer.name; shown.state.textContent = " " + size(answer.size) + ", sent";
        shown.bar.remove();
      } else {
        shown.state.textContent = " not sent: " + (answer.message || request.status); shown.li.className = "error";
      }
      done();
    };
    request.onerror = () => {
      shown.state.textContent = " not sent: the connection was lost"; shown.li.className = "error"; done(); };
    request.send(file);
  });
}
async function sendAll(files) { for (const file of files) await send(file, row(file)); }
input.addEventListener("change", () => { sendAll(Array.from(input.files)); input.value = ""; });
zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
zone.addEventListener("dragleave", () => zone.classList.remove("over"));
zone.addEventListener("drop", (e) => { e.preventDefault(); zone.classList.remove("over");
  sendAll(Array.from(e.dataTransfer.files)); });
for (const t of document.querySelectorAll("time[datetime]")) {
  const d = new Date(t.dateTime);
  if (!isNaN(d)) t.textContent = d.toLocaleString(undefined, {timeZoneName: "short"}); }
"""


def drop_page(drop) -> TextResponse:
    """The upload link's page (see the module docstring)."""
    limits = []
    if drop.max_file_bytes is not None:
        limits.append(("Each file", "at most %s" % size_text(drop.max_file_bytes)))
    if drop.max_files is not None:
        limits.append(("Files", "%d more" % max(0, drop.max_files - drop.files)))
    if drop.max_bytes is not None:
        limits.append(("In all", "%s more" % size_text(max(0, drop.max_bytes - drop.bytes))))
    if drop.expires is not None:
        limits.append(("Open until", time_element(drop.expires)))
    details = "".join("<dt>%s</dt><dd>%s</dd>" % (escape(a), b if a == "Open until" else escape(b))
                      for a, b in limits)
    note = '<p class="note">%s</p>' % escape(drop.note) if drop.note else ""
    password = ('<label for="password">Password</label><input id="password" type="password" '
                'autocomplete="current-password" required>' if drop.password is not None else "")
    body = ('<h1>Send files</h1><div class="card">%s%s<label for="uploader">Your name (shown to whoever asked)'
            '</label><input id="uploader" autocomplete="name" maxlength="200">%s<div id="zone" class="zone">'
            '<label for="files">Drop files here, or choose them</label><input id="files" type="file" multiple>'
            '</div><p class="muted">Nothing already in the folder is shown or replaced: a file of the same name '
            'is kept beside it. From a terminal: <code>curl -T FILE</code> and this page&#39;s address with a '
            '<code>/</code> at its end.</p></div>'
            '<div class="card"><h2>Sent from this page</h2><ul id="sent"></ul></div>'
            % (note, "<dl>%s</dl>" % details if details else "", password))
    return page(200, "Send files", body, DROP_SCRIPT)
