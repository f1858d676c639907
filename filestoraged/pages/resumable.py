"""The browser's side of a resumable upload (tus), as the pages that send
files share it: ``RESUMABLE_SCRIPT`` defines ``resumable(file, meta,
base, shown)`` (an upload made at ``base`` with the tus metadata
``meta``, then sent in pieces; a lost connection is resumed from what
the server kept; ``shown``: ``{bar, said, cancelled}``, the file's
progress, rate and time left shown as it goes; its answer once done),
``RESUMABLE_FROM`` (the size from which a page sends a file so), and the
helpers those use (``human``, ``said``, ``shownAt``, ``cancelled``)."""

RESUMABLE_SCRIPT = r"""
function human(n) { const u = ["bytes", "KiB", "MiB", "GiB"]; let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; } return (i ? n.toFixed(1) : n) + " " + u[i]; }
function cancelled() { const e = new Error("cancelled"); e.cancelled = true; return e; }
function said(xhr) { let answer = {}; try { answer = JSON.parse(xhr.responseText); } catch (e) {}
  return (answer.message || "the upload did not work") + " (HTTP " + xhr.status + ")"; }
function duration(seconds) { return seconds < 90 ? Math.max(1, Math.round(seconds)) + " s" :
  seconds < 5400 ? Math.round(seconds / 60) + " min" : (seconds / 3600).toFixed(1) + " h"; }
// Percent, rate since the file began and time left at that rate.
function shownAt(shown, loaded, size) { const now = performance.now();
  if (!shown.began) { shown.began = now; shown.from = loaded; }
  const seconds = (now - shown.began) / 1000, rate = seconds >= 0.5 ? (loaded - shown.from) / seconds : 0;
  shown.bar.value = loaded / size * 100;
  shown.said.textContent = Math.floor(shown.bar.value) + "% of " + human(size) +
    (rate > 0 ? ", " + human(rate) + "/s, " + duration((size - loaded) / rate) + " left" : ""); }
// From 8 MiB a file goes through tus in 8 MiB pieces: when the connection
// drops, the page asks the server how much it kept and goes on.
const RESUMABLE_FROM = 8 * 1024 * 1024, PIECE = 8 * 1024 * 1024;
function call(method, url, headers, body, shown, onprogress) {
  return new Promise((resolve, reject) => { const xhr = new XMLHttpRequest(); xhr.open(method, url);
    for (const [k, v] of Object.entries(Object.assign({"Tus-Resumable": "1.0.0"}, headers))) xhr.setRequestHeader(k, v);
    if (onprogress) xhr.upload.onprogress = onprogress;
    xhr.onload = () => resolve(xhr);
    xhr.onabort = () => reject(cancelled());
    xhr.onerror = () => { const e = new Error("the connection to the server was lost"); e.network = true; reject(e); };
    if (shown) shown.xhr = xhr;
    xhr.send(body); }); }
function b64(text) { return btoa(String.fromCharCode(...new TextEncoder().encode(text))); }
// A resumable upload made at ``base`` (tus) with ``meta``, then sent in pieces;
// a cancel meanwhile waits for it to be made, so that it can be ended on the server.
async function resumable(file, meta, base, shown) {
  const made = await call("POST", base, {"Upload-Length": String(file.size),
    "Upload-Metadata": Object.entries(meta).map(([k, v]) => k + " " + b64(v)).join(",")});
  if (made.status !== 201) throw new Error(said(made));
  const url = base + "/" + made.getResponseHeader("Location").split("/").pop();
  try { return await pieces(file, url, shown); }
  catch (e) { if (e.cancelled) await call("DELETE", url, {}).catch(() => {}); throw e; } }
async function pieces(file, url, shown) {
  let offset = 0, tries = 0;
  while (offset < file.size) {
    if (shown.cancelled) throw cancelled();
    const at = offset, end = Math.min(file.size, at + PIECE);
    try {
      const sent = await call("PATCH", url, {"Upload-Offset": String(at),
        "Content-Type": "application/offset+octet-stream"}, file.slice(at, end), shown,
        p => shownAt(shown, at + p.loaded, file.size));
      if (sent.status === 204) { offset = Number(sent.getResponseHeader("Upload-Offset")); tries = 0; continue; }
      if (sent.status !== 409 && sent.status !== 423 && sent.status < 500) throw new Error(said(sent));
    } catch (e) { if (!e.network) throw e; }
    if (++tries > 30) throw new Error("the connection to the server keeps failing: try again later");
    shown.said.textContent = "connection lost: resuming";
    await new Promise(resume => setTimeout(resume, Math.min(5000, 250 * tries)));
    try { const head = await call("HEAD", url, {}, null, shown);
      if (head.status === 200) offset = Number(head.getResponseHeader("Upload-Offset"));
      else if (head.status < 500) throw new Error(said(head)); } catch (e) { if (!e.network) throw e; }
  }
  if (shown.cancelled) throw cancelled();
  const answer = await call("GET", url, {"Accept": "application/json"});
  if (answer.status !== 200) throw new Error(said(answer));
  return JSON.parse(answer.responseText); }
"""
