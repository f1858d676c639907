"""Pages for people: the upload page at /, a share link's landing page, and
failures as pages, for browsers only (JSON for everyone else, as before).
Over HTTP here; in a real Chromium below (skipped without one unless
FILESTORAGED_REQUIRE_BROWSER=1)."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import tempfile
import unittest
from urllib.parse import urlsplit

from ..support import CuttingProxy, ServerCase, multipart, payload, wait_until
from .test_browser import BrowserCase

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


class PagesOverHttpTests(ServerCase):
    def share(self, data: bytes = b"the report", **fields) -> str:
        form = {name: str(value) for name, value in fields.items()}
        form["file"] = ("report.txt", data, "text/plain")
        body, ctype = multipart(form)
        reply = self.request("POST", "/file", body, {"Content-Type": ctype})
        self.assertEqual(reply.status, 201, reply)
        return urlsplit(reply.json()["url"]).path

    def downloads_of(self, path: str) -> int:
        return self.app.shares.get(path.rsplit("/", 1)[1]).downloads

    def test_the_upload_page_is_self_contained(self):
        reply = self.request("GET", "/", headers=BROWSER)
        self.assertEqual(reply.status, 200)
        self.assertEqual(reply.headers["Content-Type"], "text/html; charset=utf-8")
        page = reply.body.decode()
        self.assertIn('<form id="upload"', page)
        self.assertIn('formaction="/files"', page)  # the plain upload works without JavaScript too
        self.assertNotRegex(page, r"(src|href)=\"https?://")  # nothing from another origin
        policy = reply.headers["Content-Security-Policy"]
        self.assertIn("default-src 'none'", policy)
        for tag in ("style", "script"):  # the inline style and script are allowed by their hash, nothing else
            with self.subTest(tag=tag):
                text = re.search(r"<%s>(.*?)</%s>" % (tag, tag), page, re.S).group(1)
                digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
                self.assertIn("%s-src 'sha256-%s'" % (tag, digest), policy)

    def test_a_landing_page_never_counts_and_the_button_does(self):
        path = self.share(max_downloads=1)
        for _ in range(3):  # a chat app's preview, a bot, the person: none counts
            reply = self.request("GET", path, headers=BROWSER)
            self.assertEqual(reply.status, 200)
            self.assertIn("report.txt", reply.body.decode())
            self.assertIn('Downloads left</dt><dd><span id="left" data-left="1">1</span><', reply.body.decode())
        self.assertEqual(self.downloads_of(path), 0)
        reply = self.request("GET", path + "?download=1", headers=BROWSER)
        self.assertEqual((reply.status, reply.body), (200, b"the report"))
        self.wait_downloads(path, 1)
        reply = self.request("GET", path, headers=BROWSER)
        self.assertEqual(reply.status, 410)
        self.assertIn("text/html", reply.headers["Content-Type"])
        self.assertIn("This link is gone", reply.body.decode())
        self.assertEqual(self.request("GET", path).json()["error"], "gone")  # JSON for curl, as before

    def wait_downloads(self, path: str, count: int) -> None:
        wait_until(lambda: self.downloads_of(path) == count, "the download is counted")

    def test_the_password_form_posts_the_password_and_says_when_it_is_wrong(self):
        path = self.share(password="right", max_downloads=2)
        page = self.request("GET", path, headers=BROWSER)
        self.assertIn('type="password"', page.body.decode())
        self.assertNotIn("WWW-Authenticate", page.headers)
        form = {"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://127.0.0.1:%d" % self.port,
                "Sec-Fetch-Site": "same-origin", **BROWSER}
        wrong = self.request("POST", path, b"password=wrong", form)
        self.assertEqual(wrong.status, 401)
        self.assertIn("Wrong password", wrong.body.decode())
        self.assertNotIn("WWW-Authenticate", wrong.headers)  # a page, not the browser's login prompt
        right = self.request("POST", path, b"password=right", form)
        self.assertEqual((right.status, right.body), (200, b"the report"))
        self.assertIn('filename="report.txt"', right.headers["Content-Disposition"])
        self.wait_downloads(path, 1)
        # Scripts posting it get seed 004's 405 (a link takes GET and PUT);
        # another site's form cannot spend a download either.
        self.assertError(self.request("POST", path, b"password=right", {"Content-Type": form["Content-Type"]}),
                         405, "method_not_allowed")
        for origin, site in (("http://evil.example", "cross-site"), ("http://evil.example", None),
                             ("http://127.0.0.1:%d" % self.port, "cross-site"), ("null", None)):
            with self.subTest(origin=origin, site=site):
                headers = dict(form, Origin=origin)
                if site is None:
                    del headers["Sec-Fetch-Site"]
                else:
                    headers["Sec-Fetch-Site"] = site
                self.assertEqual(self.request("POST", path, b"password=right", headers).status, 405)
        self.assertEqual(self.downloads_of(path), 1)

    def test_a_cross_site_form_cannot_spend_a_link_without_password(self):
        path = self.share(max_downloads=1)
        evil = {"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://evil.example",
                "Sec-Fetch-Site": "cross-site", **BROWSER}
        self.assertEqual(self.request("POST", path, b"", evil).status, 405)
        self.assertEqual(self.request("POST", path, b"").status, 405)  # curl -X POST: seed 004
        self.assertEqual(self.request("GET", path).body, b"the report")  # still there for its recipient

    def test_failures_are_pages_for_browsers_and_json_for_everyone_else(self):
        for path, status in (("/file/" + "x" * 32, 404), ("/files/" + "0" * 64, 404), ("/nope", 404)):
            with self.subTest(path=path, status=status):
                page = self.request("GET", path, headers=BROWSER)
                self.assertEqual(page.status, status)
                self.assertIn("text/html", page.headers["Content-Type"])
                self.assertIn("Nothing here", page.body.decode())
                self.assertEqual(self.request("GET", path).json()["error"], "not_found")
                self.assertEqual(self.request("GET", path, headers={"Accept": "application/json"}).status, status)

    def test_gone_and_missing_pages_say_what_to_do_next(self):
        body, ctype = multipart({"file": ("once.txt", b"once", "text/plain")})
        link = self.request("POST", "/file", body, {"Content-Type": ctype}).json()["url"]
        path = urlsplit(link).path
        self.assertEqual(self.request("GET", path + "?download=1", headers=BROWSER).status, 200)
        gone = self.request("GET", path, headers=BROWSER).body.decode()
        self.assertIn("This link is gone", gone)
        self.assertIn("Ask whoever sent you the link to share the file again.", gone)
        missing = self.request("GET", "/file/" + "x" * 32, headers=BROWSER).body.decode()
        self.assertIn("Check the address for typing mistakes, or ask whoever sent it for a new link.", missing)

    def test_the_form_without_javascript_gets_a_result_page(self):
        form = {"max_downloads": "3", "expires_in": "3600", "file": ("notes.txt", b"notes", "text/plain")}
        body, ctype = multipart(form)
        reply = self.request("POST", "/file", body, {"Content-Type": ctype, **BROWSER})
        self.assertEqual(reply.status, 201)
        page = reply.body.decode()
        self.assertRegex(page, r'<a href="http://127\.0\.0\.1:\d+/file/[A-Za-z0-9_-]{32}">')
        self.assertIn("Delete token", page)
        body, ctype = multipart({"file": ("notes.txt", b"notes", "text/plain")})
        plain = self.request("POST", "/files", body, {"Content-Type": ctype, **BROWSER})
        self.assertEqual(plain.status, 200)
        self.assertIn(hashlib.sha256(b"notes").hexdigest(), plain.body.decode())


def text_of(driver, selector: str) -> str:
    """The text of the first element ``selector`` finds, read in one step in
    the page ('' if none): during a navigation an element found in the old
    document can be gone before its text is asked for, which Chrome answers
    with an error that is not "stale"."""
    return driver.execute_script("const e = document.querySelector(arguments[0]); return e ? e.innerText : ''",
                                 selector)


def wait_in(driver, condition, what: str) -> None:
    """Wait for ``condition()`` in the browser; an element of the page being
    left (stale) or not there yet counts as not yet. Decision: so does
    Chromium's "Node with given id does not belong to the document", what
    chromedriver answers (as a bare WebDriverException, not a stale element)
    when the page is replaced between finding an element and reading it: a
    CI run failed on it after a form's submit."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, \
        WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    def polled(driver) -> bool:
        try:
            return condition()
        except (NoSuchElementException, StaleElementReferenceException):
            raise
        except WebDriverException as error:
            if "does not belong to the document" in str(error):
                return False
            raise

    WebDriverWait(driver, 30, poll_frequency=0.05,
                  ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(polled, what)


class PagesInChromiumTests(BrowserCase):
    def setUp(self) -> None:
        super().setUp()
        self.files = tempfile.mkdtemp(prefix="fsd-pages-")
        self.addCleanup(shutil.rmtree, self.files, True)
        for name in os.listdir(self.downloads):
            os.unlink(os.path.join(self.downloads, name))

    def element(self, selector: str):
        return self.driver.find_element("css selector", selector)

    def wait(self, condition, what: str) -> None:
        wait_in(self.driver, condition, what)

    def saved(self, name: str, size: int) -> bytes:
        """What the browser saved as ``name``, once all ``size`` bytes are
        there: Chrome reserves the final name with an empty file first and
        renames the finished ``.crdownload`` over it."""
        path = os.path.join(self.downloads, name)
        self.wait(lambda: os.path.exists(path) and os.path.getsize(path) == size, "the browser saved " + name)
        with open(path, "rb") as handle:
            return handle.read()

    def test_upload_with_progress_then_a_wrong_then_the_right_password(self):
        data = payload(24 * 1024 * 1024, seed=5)
        source = os.path.join(self.files, "holiday photos.bin")
        with open(source, "wb") as handle:
            handle.write(data)
        self.driver.get("http://127.0.0.1:%d/" % self.port)
        self.element("#file").send_keys(source)
        self.element("#password").send_keys("right")
        self.element("#max_downloads").clear()
        self.element("#max_downloads").send_keys("2")
        self.element("#share").click()
        self.wait(lambda: self.element("#result").is_displayed(), "the link is shown")
        # The progress card (hidden once done) went all the way, with a rate.
        self.assertEqual(self.element("#percent").get_attribute("textContent"), "100%")
        self.assertRegex(self.element("#rate").get_attribute("textContent"), r"^[\d.]+ (bytes|KiB|MiB|GiB)/s$")
        link = self.element("#link").text
        self.assertRegex(link, r"^http://127\.0\.0\.1:%d/file/[A-Za-z0-9_-]{32}$" % self.port)
        self.assertEqual(self.element("#downloads").text, "2")
        self.driver.get(link)
        self.assertEqual(self.element("h1").text, "holiday photos.bin")
        self.element("#password").send_keys("wrong")
        self.element("button[type=submit]").click()
        self.wait(lambda: "Wrong password" in text_of(self.driver, "main"), "wrong password is said")
        self.element("#password").send_keys("right")
        self.element("button[type=submit]").click()
        self.assertEqual(self.saved("holiday photos.bin", len(data)), data)
        # The page the download left behind tells the truth: no "Wrong password", one download fewer.
        self.assertNotIn("Wrong password", text_of(self.driver, "main"))
        self.assertEqual(self.element("#left").text, "1 once this download is done")
        self.driver.refresh()  # (the form's POST is not sent again: a GET of the page)

    def test_a_big_upload_resumes_by_itself_when_the_connection_drops(self):
        # The page is loaded through a proxy that cuts the second PATCH after
        # 3 MiB: the page says so, asks what the server kept, and goes on.
        data = payload(30 * 1024 * 1024 + 5, seed=6)
        source = os.path.join(self.files, "film.bin")
        with open(source, "wb") as handle:
            handle.write(data)
        proxy = CuttingProxy(self.port, 3 * 1024 * 1024)
        self.addCleanup(proxy.close)
        self.driver.get("http://127.0.0.1:%d/" % proxy.port)
        self.element("#file").send_keys(source)
        self.element("#plain").click()
        self.wait(lambda: self.element("#result").is_displayed() or self.element("#failed").is_displayed(),
                  "the upload ends")
        self.assertFalse(self.element("#failed").is_displayed(), self.element("#failed").text)
        self.assertEqual(proxy.cuts, 1)
        self.assertRegex(self.element("#resuming").get_attribute("textContent"), r"^Resumed at [\d.]+ MiB\.$")
        oid = hashlib.sha256(data).hexdigest()
        self.assertEqual(self.element("#link").text, "http://127.0.0.1:%d/files/%s" % (proxy.port, oid))
        self.assertEqual(self.request("GET", "/files/" + oid).body, data)
        # Less than the whole file went twice: the page went on, not over.
        self.assertLess(proxy.sent, len(data) + 12 * 1024 * 1024)

    def test_a_once_links_landing_page_opened_twice_still_downloads_once(self):
        body, ctype = multipart({"max_downloads": "1", "file": ("once.txt", b"only once", "text/plain")})
        link = self.request("POST", "/file", body, {"Content-Type": ctype}).json()["url"]
        for _ in range(2):
            self.driver.get(link)
            self.assertIn("Downloads left\n1", self.element("dl").text)
        self.element("a.button").click()
        self.assertEqual(self.saved("once.txt", len(b"only once")), b"only once")
        self.driver.get(link)
        self.assertEqual(self.element("h1").text, "This link is gone")

    def uploaded(self, **fields) -> str:
        source = os.path.join(self.files, "notes.txt")
        with open(source, "wb") as handle:
            handle.write(b"notes to share")
        self.driver.get("http://127.0.0.1:%d/" % self.port)
        self.element("#file").send_keys(source)
        self.element("#share").click()
        self.wait(lambda: self.element("#result").is_displayed(), "the link is shown")
        return self.element("#link").text

    def test_copy_link_without_the_clipboard_api_selects_the_link(self):
        """Plain HTTP on a LAN address is no secure context: no clipboard API."""
        link = self.uploaded()
        self.driver.execute_script("Object.defineProperty(window, 'isSecureContext', {value: false})")
        self.element("#copy").click()
        self.wait(lambda: "Selected" in self.element("#copied").text, "the page says the link is selected")
        self.assertEqual(self.driver.execute_script("return window.getSelection().toString()"), link)
        self.assertIn("Ctrl+C", self.element("#copied").text)

    def test_expiry_in_local_time_and_a_delete_button_at_both_widths(self):
        for width in (360, 1280):
            with self.subTest(width=width):
                self.driver.set_window_size(width, 900)
                link = self.uploaded()
                shown = self.element("#expires").text
                self.assertRegex(shown, r"\d")
                self.assertNotRegex(shown, r"\d{4}-\d\d-\d\dT")  # the reader's own time, not ISO
                self.element("#delete").click()
                self.wait(lambda: "Deleted" in self.element("#deleted").text, "the link is deleted")
                self.assertEqual(self.request("GET", urlsplit(link).path).status, 410)
                self.assertLessEqual(self.driver.execute_script("return document.documentElement.scrollWidth"),
                                     width)
                self.driver.get(link)
                self.assertEqual(self.element("h1").text, "This link is gone")
        self.driver.set_window_size(1280, 900)

    def test_the_landing_page_shows_the_expiry_in_local_time(self):
        body, ctype = multipart({"file": ("t.txt", b"t", "text/plain")})
        answer = self.request("POST", "/file", body, {"Content-Type": ctype}).json()
        self.driver.get(answer["url"])
        expected = self.driver.execute_script(
            "return new Date(arguments[0]).toLocaleString(undefined, {timeZoneName: 'short'})", answer["expires_at"])
        self.assertEqual(self.element("time").text, expected)  # the reader's time, its zone named

    def test_screenshots_at_360_and_1280_pixels(self):
        folder = os.environ.get("FILESTORAGED_SCREENSHOTS") or self.files
        body, ctype = multipart({"password": "pw", "file": ("report.pdf", b"%PDF-1.4", "application/pdf")})
        link = self.request("POST", "/file", body, {"Content-Type": ctype}).json()["url"]
        for width in (360, 1280):
            self.driver.set_window_size(width, 900)
            for name, url in (("upload", "http://127.0.0.1:%d/" % self.port), ("link", link)):
                self.driver.get(url)
                path = os.path.join(folder, "%s-%d.png" % (name, width))
                self.assertTrue(self.driver.save_screenshot(path))
                with open(path, "rb") as handle:
                    self.assertEqual(handle.read(8), b"\x89PNG\r\n\x1a\n")
                # Nothing sticks out sideways at either width.
                self.assertLessEqual(self.driver.execute_script("return document.documentElement.scrollWidth"),
                                     width)
        self.driver.set_window_size(1280, 900)


class PagesInPlainWordsTests(BrowserCase):
    """The upload page on a server that is strict: a small size limit and
    tokens asked for every write."""

    config_overrides = {"max_size": 1024 * 1024, "auth": "writes"}

    def setUp(self) -> None:
        super().setUp()
        self.files = tempfile.mkdtemp(prefix="fsd-pages-")
        self.addCleanup(shutil.rmtree, self.files, True)

    def element(self, selector: str):
        return self.driver.find_element("css selector", selector)

    def choose(self, size: int) -> None:
        source = os.path.join(self.files, "file-%d.bin" % size)
        with open(source, "wb") as handle:
            handle.write(payload(size, seed=3))
        self.driver.get("http://127.0.0.1:%d/" % self.port)
        self.element("#file").send_keys(source)

    def test_the_size_is_checked_before_uploading(self):
        self.choose(2 * 1024 * 1024)
        self.element("#share").click()
        wait_in(self.driver, lambda: self.element("#failed").is_displayed(), "the page says why")
        self.assertEqual(self.element("#failed").text, "This file is 2.0 MiB; this server accepts up to 1.0 MiB.")
        self.assertEqual(self.stored_files(), [])

    def test_a_missing_token_is_said_in_plain_words(self):
        self.choose(1000)
        self.element("#share").click()
        wait_in(self.driver, lambda: self.element("#failed").is_displayed(), "the page says why")
        text = self.element("#failed").text
        self.assertEqual(text, "This server asks for an API token: paste one in the first field and try again.")
        self.assertNotIn("Bearer", text)


class PagesWithoutJavaScriptTests(BrowserCase):
    javascript = False

    def test_the_form_uploads_and_shows_the_link(self):
        folder = tempfile.mkdtemp(prefix="fsd-pages-")
        self.addCleanup(shutil.rmtree, folder, True)
        source = os.path.join(folder, "plain.txt")
        with open(source, "wb") as handle:
            handle.write(b"no script needed")
        for button, shown in (("#share", "Delete token"), ("#plain", hashlib.sha256(b"no script needed").hexdigest())):
            self.driver.get("http://127.0.0.1:%d/" % self.port)
            self.driver.find_element("css selector", "#file").send_keys(source)
            self.driver.find_element("css selector", button).click()
            wait_in(self.driver, lambda shown=shown: shown in text_of(self.driver, "main"),
                    "the result page shows " + shown)
            self.assertIn("Uploaded", self.driver.find_element("css selector", "h1").text)


if __name__ == "__main__":
    unittest.main()


class NoScriptUploadUnderAuthTests(ServerCase):
    """The upload page's form without JavaScript, under --auth writes: its
    token field (the form's first part) is read, before the file."""

    config_overrides = {"auth": "writes"}

    def form(self, fields):
        body, ctype = multipart(fields)
        return body, {"Content-Type": ctype, "Accept": "text/html"}

    def test_the_forms_token_field_authorizes_the_upload(self):
        token = self.app.tokens.create(["files:write", "share:create"])[1]
        for action, expected in (("/file", 201), ("/files", 200)):
            with self.subTest(action=action):
                body, headers = self.form({"token": token, "file": ("a.txt", b"no script", "text/plain"),
                                           "password": "", "max_downloads": "1", "expires_in": "3600"})
                reply = self.request("POST", action, body, headers)
                self.assertEqual(reply.status, expected, reply)
                self.assertIn("text/html", reply.headers["Content-Type"])
        for fields in ({"token": "wrong", "file": ("a.txt", b"x", "text/plain")},
                       {"token": "", "file": ("a.txt", b"x", "text/plain")},
                       {"file": ("a.txt", b"x", "text/plain"), "token": token}):  # after the file: never read
            with self.subTest(fields=list(fields)):
                body, headers = self.form(fields)
                self.assertEqual(self.request("POST", "/file", body, headers).status, 401)

    def test_the_page_puts_the_token_field_first(self):
        page = self.request("GET", "/", headers=BROWSER).body.decode()
        self.assertLess(page.index('name="token"'), page.index('name="file"'))
