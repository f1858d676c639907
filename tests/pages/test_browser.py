"""An uploaded page opened in a real browser (Debian's Chromium, driven by
Selenium) never runs its script on the daemon's origin.

Skipped without Chromium, chromedriver or Selenium, unless
``FILESTORAGED_REQUIRE_BROWSER=1`` (CI), where that is a failure.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import unittest

from ..support import ServerCase, required, sha256

REQUIRED = required("BROWSER")
# If this ran, it would stage a KV key on the daemon and retitle the page.
PAGE = (b"<!doctype html><title>harmless</title><p>hello</p><script>"
        b"document.title='pwned';fetch('/kv/set',{method:'POST',body:'{\"pwned\":1}'});"
        b"</script>")


def browser(javascript: bool = True, trusting: bool = False):
    """A headless Chromium that saves downloads in a folder of its own
    (``javascript=False``: one with scripts turned off; ``trusting``: one
    that takes any certificate, a test provider's made for it)."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        webdriver = None
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if webdriver is None or not binary or not driver:
        message = "needs chromium, chromium-driver and selenium (bin/test installs them as root)"
        if REQUIRED:
            raise AssertionError(message + " and FILESTORAGED_REQUIRE_BROWSER=1")
        raise unittest.SkipTest(message)
    downloads = tempfile.mkdtemp(prefix="fsd-downloads-")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    if trusting:
        options.add_argument("--ignore-certificate-errors")
    prefs = {"download.default_directory": downloads, "download.prompt_for_download": False}
    if not javascript:
        prefs["profile.managed_default_content_settings.javascript"] = 2
    options.add_experimental_option("prefs", prefs)
    return webdriver.Chrome(service=Service(driver), options=options), downloads


class BrowserCase(ServerCase):
    """A server and one headless Chromium for the test class."""

    javascript = True

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.driver, cls.downloads = browser(cls.javascript)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.driver.quit()
        shutil.rmtree(cls.downloads, ignore_errors=True)
        super().tearDownClass()


class BrowserTests(BrowserCase):

    def open(self, content_type: str) -> str:
        data = PAGE + content_type.encode()
        oid = self.request("POST", "/files", data, {"Content-Type": content_type}).json()["hash"]
        self.driver.get("http://127.0.0.1:%d/files/%s" % (self.port, oid))
        return oid

    def assertScriptNeverRan(self) -> None:
        self.assertNotEqual(self.driver.title, "pwned")
        self.assertEqual(self.request("POST", "/kv/commit").status, 204)
        self.assertEqual(self.request("GET", "/kv/pwned").status, 404)

    def wait_until(self, condition, what: str) -> None:
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(self.driver, 20, poll_frequency=0.05).until(lambda driver: condition(), what)

    def test_an_html_upload_is_downloaded_not_shown(self):
        for content_type in ("text/html", "image/svg+xml", "application/xhtml+xml"):
            with self.subTest(content_type=content_type):
                oid = self.open(content_type)
                size = len(PAGE + content_type.encode())
                self.wait_until(lambda oid=oid, size=size: self.saved(oid, size), "the browser saved it as a file")
                with open(os.path.join(self.downloads, self.saved(oid, size)), "rb") as handle:
                    self.assertEqual(sha256(handle.read()), oid)
                self.assertScriptNeverRan()

    def saved(self, oid: str, size: int) -> str:
        """The finished download of ``oid`` (the browser adds an extension), or "".
        Chrome reserves the final name with an empty file, writes to a
        ``.crdownload`` one and renames it over: finished is all ``size``
        bytes under the final name."""
        for name in os.listdir(self.downloads):
            if name.startswith(oid) and not name.endswith(".crdownload"):
                try:
                    if os.path.getsize(os.path.join(self.downloads, name)) == size:
                        return name
                except FileNotFoundError:
                    pass
        return ""

    def test_html_sent_as_plain_text_stays_text(self):
        self.open("text/plain")  # nosniff: the browser must not guess HTML
        self.wait_until(lambda: self.driver.execute_script("return document.readyState") == "complete",
                        "the page loaded")
        self.assertIn("<script>", self.driver.find_element("tag name", "body").text)
        self.assertScriptNeverRan()
