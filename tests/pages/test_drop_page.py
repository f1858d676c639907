"""An upload link's page in Chromium: it fits 360 and 1280 px, shows the
owner's note and never the link's secret; a person picks files, sees
each one's progress, and a 20 MiB file goes on by itself after the
connection drops (tus), landing in the link's folder under its name;
the owner's page of links shows what came, at both widths."""

from __future__ import annotations

import hashlib
import json
import os

from ..support import CuttingProxy, payload
from .test_browser import BrowserCase
from .test_pages import wait_in


class DropPageInChromiumTests(BrowserCase):
    def setUp(self) -> None:
        super().setUp()
        self.app.buckets.create("inbox")
        made = self.request("POST", "/drops", json.dumps({"bucket": "inbox", "prefix": "from-clients",
                                                          "note": "Your scans, please", "max_files": 3}).encode())
        self.assertEqual(made.status, 201, made)
        self.secret = made.json()["url"].rsplit("/", 1)[1]
        self.driver.set_window_size(1280, 900)
        self.addCleanup(self.driver.set_window_size, 1280, 900)

    def element(self, selector: str):
        return self.driver.find_element("css selector", selector)

    def test_the_page_fits_and_sends_files_a_big_one_resumed_after_a_cut(self):
        for width in (360, 1280):
            with self.subTest(width=width):
                self.driver.set_window_size(width, 900)
                self.driver.get("http://127.0.0.1:%d/drop/%s" % (self.port, self.secret))
                self.assertEqual(self.element("h1").text, "Send files")
                self.assertIn("Your scans, please", self.element("main").text)
                self.assertLessEqual(self.driver.execute_script("return document.documentElement.scrollWidth"),
                                     width)
                self.assertNotIn(self.secret, self.driver.page_source.replace(self.driver.current_url, ""))
        small, big = b"a scanned page", payload(20 * 1024 * 1024 + 7, seed=9)
        paths = [os.path.join(self.downloads, name) for name in ("scan.txt", "film.bin")]
        for path, data in zip(paths, (small, big)):
            with open(path, "wb") as handle:
                handle.write(data)
        proxy = CuttingProxy(self.port, 3 * 1024 * 1024)  # cuts the second PATCH after 3 MiB
        self.addCleanup(proxy.close)
        self.driver.get("http://127.0.0.1:%d/drop/%s" % (proxy.port, self.secret))
        self.element("#uploader").send_keys("Bob")
        self.element("#files").send_keys("\n".join(paths))
        rows = lambda: self.driver.find_elements("css selector", "#sent li")  # noqa: E731
        wait_in(self.driver, lambda: len(rows()) == 2 and all(row.text.endswith("sent") or "not sent" in row.text
                                                               for row in rows()), "both files end")
        self.assertEqual([row.text for row in rows()], ["scan.txt 14 bytes, sent", "film.bin 20.0 MiB, sent"])
        self.assertEqual(proxy.cuts, 1)
        self.assertLess(proxy.sent, len(big) + 12 * 1024 * 1024)  # the page went on, not over
        for key, data in (("from-clients/scan.txt", small), ("from-clients/film.bin", big)):
            entry = self.app.keys.get("inbox", key)
            self.assertIsNotNone(entry, key)
            self.assertEqual(entry.oid, hashlib.sha256(data).hexdigest())
            self.assertEqual(entry.maker, "Bob via upload link 'upload link'")
        self.assertEqual(self.app.drops.get(self.secret).files, 2)
        for width in (360, 1280):  # the owner's page of links (access control is off here: anyone's console)
            with self.subTest(owner_width=width):
                self.driver.set_window_size(width, 900)
                self.driver.get("http://127.0.0.1:%d/console/upload-links" % self.port)
                self.assertIn("film.bin", self.element("main").text)
                self.assertIn("Bob via upload link", self.element("main").text)
                self.assertLessEqual(self.driver.execute_script("return document.documentElement.scrollWidth"),
                                     width)
