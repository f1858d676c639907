"""The page a person opens from an upload link: the owner's note, the
link's limits, a field for their name (and the password, where the link
has one), and a place to drop files or choose them. Each file goes up on
its own (a ``PUT`` to the link, the page's own address: the secret is
never written into the page; from 8 MiB a resumable upload, ``tus``, that
goes on where a lost connection cut it), showing its progress, rate and
time left, then its name and size as stored; the list is of what this page sent, never of
anything else in the folder."""

from __future__ import annotations

from html import escape

from ..base.timestamps import time_element
from ..web.messages import TextResponse
from . import page, size_text
from .resumable import RESUMABLE_SCRIPT

DROP_SCRIPT = RESUMABLE_SCRIPT + r"""
const list = document.getElementById("sent"), input = document.getElementById("files");
const zone = document.getElementById("zone"), link = location.pathname.replace(/\/+$/, "");
function row(file) {
  const item = document.createElement("li"), name = document.createElement("span");
  const bar = document.createElement("progress"), said = document.createElement("span");
  name.textContent = file.name; bar.max = 100; bar.value = 0; bar.setAttribute("aria-label", "Sending " + file.name);
  said.className = "muted"; said.textContent = " waiting";
  item.append(name, bar, said); list.append(item);
  return {item, name, bar, said, cancelled: false, xhr: null, began: 0, from: 0}; }
function who() { return document.getElementById("uploader").value.trim(); }
function password() { const field = document.getElementById("password"); return field ? field.value : ""; }
// A file below RESUMABLE_FROM in one PUT to the link; a larger one through
// tus, resumed where the connection drops.
function put(file, shown) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest(); xhr.open("PUT", link + "/" + encodeURIComponent(file.name));
    if (who()) xhr.setRequestHeader("X-Uploader-Name", unescape(encodeURIComponent(who())));
    if (password()) xhr.setRequestHeader("X-Password", password());
    xhr.upload.onprogress = p => { if (p.lengthComputable) shownAt(shown, p.loaded, file.size || 1); };
    xhr.onload = () => xhr.status === 201 ? resolve(JSON.parse(xhr.responseText)) : reject(new Error(said(xhr)));
    xhr.onerror = () => reject(new Error("the connection to the server was lost: try again"));
    xhr.send(file); }); }
async function send(file, shown) {
  if (file.size < RESUMABLE_FROM) return put(file, shown);
  const meta = {target: "drop", link: link.split("/").pop(), filename: file.name,
                filetype: file.type || "application/octet-stream"};
  if (who()) meta.uploader = who();
  if (password()) meta.password = password();
  return resumable(file, meta, "/uploads", shown); }
async function sendAll(files) {
  for (const file of files) {
    const shown = row(file);
    try { const sent = await send(file, shown);
      shown.name.textContent = sent.name; shown.bar.remove();
      shown.said.textContent = " " + human(sent.size) + ", sent"; }
    catch (e) { shown.item.className = "error"; shown.said.textContent = " not sent: " + e.message; } } }
input.addEventListener("change", () => { sendAll(Array.from(input.files)); input.value = ""; });
zone.addEventListener("dragover", e => { e.preventDefault(); zone.classList.add("over"); });
zone.addEventListener("dragleave", () => zone.classList.remove("over"));
zone.addEventListener("drop", e => { e.preventDefault(); zone.classList.remove("over");
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
