"""The console in a real browser (Debian's Chromium, driven by Selenium):
sign in by typing a token, walk into a folder, open an object, download
its exact bytes, delete it after the confirmation, upload a file picked
in the form, move a key, sign out; then every other action by mouse (new
folder, deleting chosen keys, a share link, opening in the browser, copy,
restoring a version, a repository, making and revoking a token; a bucket's
quota, its owner and the owner's quota); by keyboard
alone; nothing wider than the window at 360 and 1280 pixels. The
screenshots of docs/console.md are made here (``FILESTORAGED_SCREENSHOTS``
names the folder they go to)."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import struct
import tempfile
import zipfile
import zlib

from ..s3api_support import ChromiumBotoCase
from ..pages.test_pages import wait_in

LFS = "application/vnd.git-lfs+json"
PDF = (b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [3 0 R] "
       b"/Count 1 >>\nendobj\n3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>\nendobj\n"
       b"trailer\n<< /Root 1 0 R >>\n%%EOF\n")


def gradient(width: int, height: int) -> bytes:
    """A PNG picture (a sunset's colours, top to bottom), for the screenshots' previews."""
    rows = b"".join(b"\0" + bytes((255, max(0, 200 - y), min(255, 60 + y // 2))) * width for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


class ConsoleInChromiumTests(ChromiumBotoCase):
    def setUp(self) -> None:
        super().setUp()
        self.driver.delete_all_cookies()
        self.driver.set_window_size(1280, 900)
        self.admin.create_bucket(Bucket="photos")
        for key in ("2026/cat.jpg", "2026/dog.jpg", "2026/été <b onclick=x>.txt", "notes.txt"):
            self.admin.put_object(Bucket="photos", Key=key, Body=b"the bytes of " + key.encode(),
                                  ContentType="text/plain" if key.endswith(".txt") else "image/jpeg")
        _, self.secret = self.app.tokens.create(["admin"], "laptop")
        self.base = "http://127.0.0.1:%d" % self.port

    def element(self, selector: str):
        return self.driver.find_element("css selector", selector)

    def link(self, text: str):
        return self.driver.find_element("link text", text)

    def wait(self, condition, what: str) -> None:
        wait_in(self.driver, condition, what)

    def sign_in(self) -> None:
        self.driver.get(self.base + "/console")
        self.wait(lambda: self.element("h1").text == "Sign in", "the sign-in page")
        self.element("#token").send_keys(self.secret + "\n")
        self.wait(lambda: self.element("h1").text == "Buckets", "the buckets")

    def sent(self, names) -> None:
        """The upload's progress rows, one a file, each at 100 % and done;
        then the link back to the folder, which shows it afresh."""
        self.wait(lambda: self.element("#sent").is_displayed(), "every file sent")
        rows = self.driver.find_elements("css selector", "#sending li")
        self.assertEqual(sorted(row.find_element("css selector", "span").text for row in rows), names)
        for row in rows:
            self.assertEqual(row.find_element("css selector", "progress").get_attribute("value"), "100")
            self.assertTrue(row.text.endswith("done"), row.text)
        self.assertEqual(self.driver.switch_to.active_element.text, "See them in the folder")
        self.link("See them in the folder").click()

    def fits(self, width: int) -> None:
        """Nothing wider than the page's viewport (the window less its scroll bar)."""
        wide, seen = self.driver.execute_script("return [document.documentElement.scrollWidth, "
                                                "document.documentElement.clientWidth]")
        self.assertLessEqual(wide, seen)
        self.assertLessEqual(seen, width)

    def test_sign_in_browse_download_delete_and_sign_out(self):
        self.sign_in()
        self.assertIn("photos 4 objects", self.element("main").text)  # each bucket's usage
        self.assertNotIn(self.secret, self.driver.execute_script("return document.cookie"))  # HttpOnly
        self.assertEqual(self.driver.execute_script("return localStorage.length + sessionStorage.length"), 0)
        self.link("photos").click()
        self.link("2026/").click()
        self.wait(lambda: "cat.jpg" in self.element("table").text, "the folder's keys")
        self.assertIn("été <b onclick=x>.txt", self.element("table").text)  # a name, never markup
        self.link("cat.jpg").click()
        self.wait(lambda: self.element("h1").text == "2026/cat.jpg", "the object's page")
        self.assertIn("image/jpeg", self.element("dl").text)
        self.link("Download").click()
        path = os.path.join(self.downloads, "cat.jpg")
        expected = b"the bytes of 2026/cat.jpg"
        self.wait(lambda: os.path.exists(path) and os.path.getsize(path) == len(expected), "the download")
        with open(path, "rb") as saved:
            self.assertEqual(saved.read(), expected)
        self.link("Delete…").click()
        self.wait(lambda: self.element("h1").text == "Delete?", "the confirmation")
        self.element("form[action='/console/delete'] button").click()
        self.wait(lambda: "dog.jpg" in self.element("table").text, "back in the folder")
        self.assertNotIn("cat.jpg", self.element("table").text)
        self.assertEqual(self.code_of(self.admin.head_object, Bucket="photos", Key="2026/cat.jpg"), "404")
        source = os.path.join(self.downloads, "from-disk.txt")  # a file of this machine, picked in the form
        with open(source, "wb") as out:
            out.write(b"picked and uploaded")
        self.element("#file").send_keys(source)
        self.element("#upload button").click()
        self.sent(["from-disk.txt"])  # its progress shown, then done
        self.wait(lambda: "from-disk.txt" in self.element("table").text, "the upload listed in its folder")
        self.assertEqual(self.admin.get_object(Bucket="photos", Key="2026/from-disk.txt")["Body"].read(),
                         b"picked and uploaded")
        tree = os.path.join(self.downloads, "trip")  # a whole folder picked: its files keep their paths
        os.makedirs(os.path.join(tree, "day1"))
        for name, body in (("notes.txt", b"the notes"), ("day1/a.jpg", b"a picture")):
            with open(os.path.join(tree, name), "wb") as out:
                out.write(body)
        self.element("#tree").send_keys(tree)
        self.element("#tree ~ button").click()
        self.sent(["trip/day1/a.jpg", "trip/notes.txt"])
        self.wait(lambda: "trip/" in self.element("table").text, "the folder listed in its folder")
        self.driver.execute_script(  # files dropped on the page
            "const dt = new DataTransfer(); dt.items.add(new File(['dropped bytes'], 'dropped.txt'));"
            "document.getElementById('drop').dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true}));")
        self.sent(["dropped.txt"])
        self.assertEqual(self.admin.get_object(Bucket="photos", Key="2026/dropped.txt")["Body"].read(),
                         b"dropped bytes")
        big = os.path.join(self.downloads, "big.iso")  # from 8 MiB: through tus, in 8 MiB pieces
        data = os.urandom(9 * 1024 * 1024 + 5)
        with open(big, "wb") as out:
            out.write(data)
        self.element("#file").send_keys(big)
        self.element("#upload button").click()
        self.wait(lambda: self.element("#sent").is_displayed(), "the big file sent")
        asked = self.driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        self.assertEqual(len([url for url in asked if "/console/uploads/" in url]), 3, asked)  # 2 pieces, the answer
        self.sent(["big.iso"])
        got = self.admin.get_object(Bucket="photos", Key="2026/big.iso")
        self.assertEqual((got["Body"].read() == data, got["ETag"]), (True, '"%s"' % hashlib.md5(data).hexdigest()))
        self.assertEqual(self.admin.get_object(Bucket="photos", Key="2026/trip/day1/a.jpg")["Body"].read(),
                         b"a picture")
        self.assertEqual(self.admin.get_object(Bucket="photos", Key="2026/trip/notes.txt")["Body"].read(),
                         b"the notes")
        self.link("dog.jpg").click()
        self.wait(lambda: self.element("h1").text == "2026/dog.jpg", "the other object's page")
        target = self.element("#target")
        target.clear()
        target.send_keys("2026/old/dog.jpg")
        self.element("button[value=move]").click()
        self.wait(lambda: self.element("h1").text == "2026/old/dog.jpg", "moved")
        self.assertEqual(self.admin.get_object(Bucket="photos", Key="2026/old/dog.jpg")["Body"].read(),
                         b"the bytes of 2026/dog.jpg")
        self.element("form[action='/console/sign-out'] button").click()
        self.wait(lambda: self.element("h1").text == "Sign in", "signed out")
        self.driver.get(self.base + "/console/bucket?name=photos")
        self.wait(lambda: self.element("h1").text == "Sign in", "the session is over")

    def test_by_keyboard_alone(self):
        from selenium.webdriver.common.keys import Keys

        self.driver.get(self.base + "/console/sign-in")
        self.wait(lambda: self.driver.switch_to.active_element.get_attribute("id") == "user", "the name field")
        for _ in range(3):  # past the password and its button, to the token's form
            self.driver.switch_to.active_element.send_keys(Keys.TAB)
        self.assertEqual(self.driver.switch_to.active_element.get_attribute("id"), "token")
        self.driver.switch_to.active_element.send_keys(self.secret, Keys.ENTER)
        self.wait(lambda: self.element("h1").text == "Buckets", "signed in by keyboard")
        seen = []
        for _ in range(12):  # tab until the bucket's link has the focus
            self.driver.switch_to.active_element.send_keys(Keys.TAB)
            seen.append(self.driver.switch_to.active_element.text)
            if seen[-1] == "photos":
                break
        self.assertEqual(seen[-1], "photos", seen)
        outline = self.driver.execute_script("return getComputedStyle(document.activeElement).outlineStyle")
        self.assertNotEqual(outline, "none")  # the focus can be seen
        self.driver.switch_to.active_element.send_keys(Keys.ENTER)
        self.wait(lambda: self.element("h1").text == "photos", "the bucket, by keyboard")

    def test_a_newcomers_walk_through_what_s3_stored(self):
        """As a person who stored through S3 would: sign in, open 2026/ then
        b/, download c.txt, upload a file into 2026/ and read it through S3,
        rename it, share it with a password and open the link, delete it,
        sign out and find the listing closed. A key that looks like markup
        is a name."""
        self.admin.create_bucket(Bucket="walk")
        odd = "2026/<img src=x onerror=alert(1)>.txt"
        for key in ("2026/a.jpg", "2026/b/c.txt", odd):
            self.admin.put_object(Bucket="walk", Key=key, Body=b"bytes of " + key.encode())
        self.sign_in()
        self.link("walk").click()
        self.wait(lambda: "2026/" in self.element("table").text, "the bucket's top")
        self.link("2026/").click()
        self.wait(lambda: "a.jpg" in self.element("table").text, "2026/")
        self.assertIn("<img src=x onerror=alert(1)>.txt", self.element("table").text)
        self.assertEqual(self.driver.find_elements("css selector", "main img"), [])
        self.link("b/").click()
        self.wait(lambda: "c.txt" in self.element("table").text, "2026/b/")
        self.link("c.txt").click()
        self.wait(lambda: self.element("h1").text == "2026/b/c.txt", "c.txt's page")
        self.link("Download").click()
        path, expected = os.path.join(self.downloads, "c.txt"), b"bytes of 2026/b/c.txt"
        self.wait(lambda: os.path.exists(path) and os.path.getsize(path) == len(expected), "the download")
        with open(path, "rb") as saved:
            self.assertEqual(saved.read(), expected)
        self.link("Back to the folder").click()
        self.wait(lambda: "c.txt" in self.element("table").text, "back in 2026/b/")
        self.link("2026").click()  # the folder's crumbs
        self.wait(lambda: "a.jpg" in self.element("table").text, "back in 2026/")
        source = os.path.join(self.downloads, "mine.txt")
        with open(source, "wb") as out:
            out.write(b"my own file")
        self.element("#file").send_keys(source)
        self.element("#upload button").click()
        self.sent(["mine.txt"])
        self.assertEqual(self.admin.get_object(Bucket="walk", Key="2026/mine.txt")["Body"].read(), b"my own file")
        self.wait(lambda: "mine.txt" in self.element("table").text, "the upload listed")
        self.link("mine.txt").click()
        self.wait(lambda: self.element("h1").text == "2026/mine.txt", "its page")
        target = self.element("#target")
        target.clear()
        target.send_keys("2026/renamed.txt")
        self.element("button[value=move]").click()
        self.wait(lambda: self.element("h1").text == "2026/renamed.txt", "renamed")
        self.assertEqual(self.code_of(self.admin.head_object, Bucket="walk", Key="2026/mine.txt"), "404")
        self.element("#password").send_keys("pw")
        self.element("form[action='/console/share'] button").click()
        self.wait(lambda: self.element("h1").text == "Share link made", "the link")
        link = self.element("dd a").text
        self.assertEqual(self.request("GET", "/" + link.split("/", 3)[3]).status, 401)
        self.assertEqual(self.request("GET", "/" + link.split("/", 3)[3], headers={"X-Password": "pw"}).body,
                         b"my own file")
        self.link("Back to the object").click()
        self.wait(lambda: self.element("h1").text == "2026/renamed.txt", "back to it")
        self.link("Delete…").click()
        self.wait(lambda: self.element("h1").text == "Delete?", "the confirmation")
        self.element("form[action='/console/delete'] button").click()
        self.wait(lambda: "a.jpg" in self.element("table").text, "back in the folder")
        self.assertEqual(self.code_of(self.admin.head_object, Bucket="walk", Key="2026/renamed.txt"), "404")
        self.element("form[action='/console/sign-out'] button").click()
        self.wait(lambda: self.element("h1").text == "Sign in", "signed out")
        self.driver.get(self.base + "/console/bucket?name=walk&prefix=2026%2F")
        self.wait(lambda: self.element("h1").text == "Sign in", "the listing refused")

    def test_a_folder_sorted_its_keys_chosen_at_once_and_downloaded_as_a_zip(self):
        self.admin.put_object(Bucket="photos", Key="2026/big.bin", Body=b"b" * 4000)
        self.sign_in()
        self.driver.get(self.base + "/console/bucket?name=photos&prefix=2026%2F")
        self.link("Size").click()
        self.link("Size ▲").click()  # again: largest first
        self.wait(lambda: "Size ▼" in self.element("thead").text, "sorted by size, largest first")
        names = [cell.text for cell in self.driver.find_elements("css selector", "tbody td:first-child a")]
        self.assertEqual(names[0], "big.bin")
        self.element("#choose-all").click()
        boxes = self.driver.find_elements("css selector", "input[name=key]")
        self.assertEqual(len(boxes), 4)
        self.assertTrue(all(box.is_selected() for box in boxes))
        self.element("#zip-chosen").click()
        path = os.path.join(self.downloads, "2026.zip")
        self.wait(lambda: os.path.exists(path) and zipfile.is_zipfile(path), "the zip")
        with zipfile.ZipFile(path) as archive:
            self.assertEqual(sorted(archive.namelist()), ["big.bin", "cat.jpg", "dog.jpg", "été <b onclick=x>.txt"])
            self.assertEqual(archive.read("big.bin"), b"b" * 4000)

    def test_an_upload_shows_its_rate_may_be_cancelled_and_the_listing_shows_what_came(self):
        """At 1 MiB/s (the browser's network throttled), a 3 MiB file shows
        its rate and time left and is cancelled; the next file goes on; a
        9 MiB one (through tus) is cancelled midway and its upload ended on
        the server; the listing shows the file that came, without the page
        being loaded again."""
        self.sign_in()
        self.driver.get(self.base + "/console/bucket?name=photos&prefix=2026%2F")
        self.driver.execute_script("window.stayed = true")
        slow, fresh, big = (os.path.join(self.downloads, name) for name in ("slow.bin", "fresh.txt", "big.bin"))
        for path, size in ((slow, 3 << 20), (fresh, 5), (big, 9 << 20)):
            with open(path, "wb") as made:
                made.write(b"f" * size)
        self.driver.set_network_conditions(offline=False, latency=0, download_throughput=1 << 30,
                                           upload_throughput=1 << 20)
        self.addCleanup(self.driver.delete_network_conditions)
        self.element("#file").send_keys("\n".join((slow, fresh, big)))
        self.element("#upload button").click()
        rows = lambda: self.driver.find_elements("css selector", "#sending li")  # noqa: E731
        rate = r"^\d+% of 3\.0 MiB, [\d.]+ (KiB|MiB)/s, \d+ s left$"
        self.wait(lambda: re.match(rate, rows()[0].find_elements("css selector", "span")[1].text), "the rate")
        rows()[0].find_element("css selector", "button").click()
        self.wait(lambda: rows()[0].text.endswith("cancelled") and rows()[1].text.endswith("done"),
                  "the first cancelled, the next sent")
        self.wait(lambda: "fresh.txt" in self.element("#listing").text, "the listing shown afresh")
        self.assertTrue(self.driver.execute_script("return window.stayed"))  # the same page, not loaded again
        self.wait(lambda: rows()[2].text.startswith("big.bin") and "/s" in rows()[2].text, "the big one under way")
        rows()[2].find_element("css selector", "button").click()
        self.wait(lambda: rows()[2].text.endswith("cancelled"), "the big one cancelled")
        for key in ("2026/slow.bin", "2026/big.bin"):
            self.assertEqual(self.code_of(self.admin.head_object, Bucket="photos", Key=key), "404")
        unfinished = os.path.join(self.data_dir, "uploads")
        self.wait(lambda: not [name for name in os.listdir(unfinished) if not name.startswith(".")],
                  "the tus upload ended on the server")

    def test_the_upload_page_signed_in_asks_for_no_token(self):
        """Signed in to the console, the upload page sends its uploads as
        the session's token: a share link (one request) and a plain upload
        of 9 MiB (through tus), each listed under the token that made it."""
        self.sign_in()
        self.link("Upload page").click()
        self.wait(lambda: self.element("h1").text == "Share a file", "the upload page")
        self.assertEqual(self.driver.find_elements("css selector", "#token"), [])
        self.assertIn("token laptop", self.element("form").text)
        small, big = os.path.join(self.downloads, "minutes.txt"), os.path.join(self.downloads, "film.bin")
        data = os.urandom(9 << 20)
        for path, body in ((small, b"the minutes"), (big, data)):
            with open(path, "wb") as made:
                made.write(body)
        self.element("#file").send_keys(small)
        self.element("#share").click()
        self.wait(lambda: self.element("#result").is_displayed() or self.element("#failed").is_displayed(),
                  "the link")
        self.assertFalse(self.element("#failed").is_displayed(), self.element("#failed").text)
        links, _ = self.app.shares.made_by("laptop", "", 10)
        self.assertEqual([link.filename for link in links], ["minutes.txt"])
        self.element("#file").send_keys(big)
        self.element("#plain").click()
        oid = hashlib.sha256(data).hexdigest()
        self.wait(lambda: self.element("#link").text.endswith("/files/" + oid)
                  or self.element("#failed").is_displayed(), "the plain upload")
        self.assertFalse(self.element("#failed").is_displayed(), self.element("#failed").text)
        self.assertEqual(self.request("GET", "/files/" + oid, headers={"Authorization": "Bearer " + self.secret}
                                      ).body, data)

    def test_undelete_by_mouse(self):
        """A key deleted in a bucket that keeps versions, found with the
        switch, opened, and brought back from its older version."""
        self.admin.put_bucket_versioning(Bucket="photos", VersioningConfiguration={"Status": "Enabled"})
        self.admin.put_object(Bucket="photos", Key="2026/keep-me.txt", Body=b"worth keeping")
        self.admin.delete_object(Bucket="photos", Key="2026/keep-me.txt")
        self.sign_in()
        self.driver.get(self.base + "/console/bucket?name=photos&prefix=2026%2F")
        self.assertNotIn("keep-me.txt", self.element("#listing").text)
        self.link("Show deleted keys and older versions").click()
        self.wait(lambda: "keep-me.txt" in self.element("#listing").text, "the deleted key listed")
        self.link("keep-me.txt").click()
        self.wait(lambda: "This key is deleted" in self.element("main").text, "the deleted key's page")
        self.driver.find_elements("css selector", "main li a")[-1].click()  # its oldest version: the object
        self.wait(lambda: self.driver.find_elements("css selector", "button[value=copy]"), "the version's page")
        self.element("button[value=copy]").click()
        self.wait(lambda: self.element("h1").text == "2026/keep-me.txt" and "Version" in self.element("dl").text,
                  "the key again")
        self.assertEqual(self.admin.get_object(Bucket="photos", Key="2026/keep-me.txt")["Body"].read(),
                         b"worth keeping")

    def test_bucket_and_object_settings_by_mouse(self):
        self.admin.create_bucket(Bucket="vault", ObjectLockEnabledForBucket=True)
        self.admin.put_object(Bucket="vault", Key="deed.pdf", Body=b"the deed")
        self.sign_in()
        self.driver.get(self.base + "/console/bucket?name=photos")
        self.element("#rule-prefix").send_keys("logs/")
        self.element("#expire_days").send_keys("30")
        self.element("form input[value=lifecycle-add] ~ button").click()
        self.wait(lambda: "under logs/: keys deleted 30 days" in self.element("#settings").text, "the rule")
        self.assertEqual(self.admin.get_bucket_lifecycle_configuration(Bucket="photos")["Rules"][0]["Expiration"],
                         {"Days": 30})
        self.driver.get(self.base + "/console/object?bucket=vault&key=deed.pdf")
        self.element("#tags").send_keys("team=legal")
        self.element("form input[value=tags] ~ button").click()
        self.wait(lambda: "team=legal" in self.element("dl").text, "the tags")
        self.element("form input[value=hold-on] ~ button").click()
        self.wait(lambda: "Legal hold\non" in self.element("dl").text, "the legal hold")
        self.assertEqual(self.admin.get_object_legal_hold(Bucket="vault", Key="deed.pdf")["LegalHold"]["Status"], "ON")

    def test_a_quota_an_owner_and_the_owners_quota_set_by_mouse_at_360_and_1280_pixels(self):
        self.sign_in()
        for width, owner, kib in ((360, "ana", 1), (1280, "bob", 2)):
            with self.subTest(width=width):
                self.driver.set_window_size(width, 900)
                self.set_owner_and_quotas(owner, kib)
                self.fits(width)

    def set_owner_and_quotas(self, owner: str, kib: int) -> None:
        """On the bucket's page: its owner, the owner's quota, its own quota, each by its form."""
        self.driver.get(self.base + "/console/bucket?name=photos")
        self.element("#owner").clear()
        self.element("#owner").send_keys(owner)
        self.element("form input[value=owner] ~ button").click()
        self.wait(lambda: self.app.buckets.get("photos").owner == owner, "the owner set")
        self.wait(lambda: "The most %s's buckets may hold together" % owner in self.element("#settings").text,
                  "the owner's quota form")
        self.element("#owner-quota").send_keys("%dK" % kib)
        self.element("form input[value=owner-quota] ~ button").click()
        self.wait(lambda: self.app.buckets.owners()[1].get(owner) == kib * 1024, "the owner's quota set")
        self.element("#quota").clear()
        self.element("#quota").send_keys("500M")
        self.element("form input[value=quota] ~ button").click()
        self.wait(lambda: self.app.buckets.get("photos").quota == 500 * 1024 * 1024, "the bucket's quota")
        self.wait(lambda: "of a quota of %d.0 KiB" % kib in self.element("#settings").text,
                  "what the owner's buckets store against it")

    def test_previews_of_a_picture_a_text_and_a_pdf(self):
        picture = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEElEQVR4nGP4z8AARAwQCgAf7gP9"
                                   "i18U1AAAAABJRU5ErkJggg==")  # 2 x 2 red pixels
        self.admin.put_object(Bucket="photos", Key="dot.png", Body=picture, ContentType="image/png")
        self.admin.put_object(Bucket="photos", Key="paper.pdf", Body=PDF, ContentType="application/pdf")
        self.sign_in()
        self.driver.get(self.base + "/console/object?bucket=photos&key=dot.png")
        image = self.element("#preview img")
        self.wait(lambda: self.driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth",
                                                     image) == 2, "the picture shown")
        self.driver.get(self.base + "/console/object?bucket=photos&key=notes.txt")
        self.assertEqual(self.element("#preview pre").text, "the bytes of notes.txt")
        self.driver.get(self.base + "/console/object?bucket=photos&key=paper.pdf")
        self.element("#preview a").click()
        self.wait(lambda: len(self.driver.window_handles) == 2, "the viewer's tab")
        self.driver.switch_to.window(self.driver.window_handles[1])
        self.wait(lambda: self.driver.execute_script("return document.contentType") == "application/pdf",
                  "the PDF shown, not downloaded")
        self.driver.close()
        self.driver.switch_to.window(self.driver.window_handles[0])
        self.assertFalse(os.path.exists(os.path.join(self.downloads, "paper.pdf")))

    def test_an_admin_makes_a_user_who_signs_in_and_sees_what_they_may_do(self):
        """The Users page's forms, then the user's own sign-in and the page
        of what they may do, each fitting 360 and 1280 pixels."""
        self.app.users.teams.create_group("the-photography-team-of-the-north-office")
        self.app.users.teams.attach_to_group("the-photography-team-of-the-north-office", "readonly")
        self.sign_in()
        self.driver.get(self.base + "/console/users")
        self.wait(lambda: self.element("h1").text == "Users", "the Users page")
        name = "margaret.hamilton-of-the-north-office@example.org"[:64]
        self.element("#name").send_keys(name)
        self.element("#password").send_keys("correct horse battery")
        self.element("#groups").send_keys("the-photography-team-of-the-north-office")
        self.element("form[action='/console/users'] button[type=submit]").click()
        self.wait(lambda: name in self.element("table").text, "the new user listed")
        self.assertEqual(self.app.users.get(name)["groups"], ["the-photography-team-of-the-north-office"])
        self.driver.find_element("css selector", "button[aria-label='Disable %s']" % name).click()
        self.wait(lambda: "(disabled)" in self.element("table").text, "the user disabled")
        self.assertTrue(self.app.users.get(name)["disabled"])
        self.driver.find_element("css selector", "button[aria-label='Enable %s']" % name).click()
        self.wait(lambda: "(disabled)" not in self.element("table").text, "the user enabled")
        for width in (360, 1280):
            self.driver.set_window_size(width, 900)
            self.driver.get(self.base + "/console/users")
            with self.subTest(page="console-users", width=width):
                self.fits(width)
        self.driver.set_window_size(1280, 900)
        self.element("form[action='/console/sign-out'] button").click()
        self.wait(lambda: self.element("h1").text == "Sign in", "signed out")
        self.element("#user").send_keys(name)
        self.element("#password").send_keys("correct horse battery\n")
        self.wait(lambda: self.element("h1").text == "Buckets", "signed in as the user")
        self.assertIn("photos", self.element("ul.entries").text)
        self.link("what you may do").click()
        self.wait(lambda: self.element("h1").text == "What you may do", "what they may do")
        self.assertIn("readonly", self.element("main").text)
        for width in (360, 1280):
            self.driver.set_window_size(width, 900)
            self.driver.get(self.base + "/console/access")
            with self.subTest(page="console-access", width=width):
                self.fits(width)
        self.assertEqual(self.driver.execute_script("return document.cookie"), "")  # the session: no script reads it

    def test_screenshots_at_360_and_1280_pixels_and_nothing_wider(self):
        folder = os.environ.get("FILESTORAGED_SCREENSHOTS") or tempfile.mkdtemp(prefix="fsd-console-shots-")
        if "FILESTORAGED_SCREENSHOTS" not in os.environ:
            self.addCleanup(shutil.rmtree, folder, True)
        for width in (360, 1280):  # the one page before signing in
            self.driver.set_window_size(width, 900)
            self.driver.get(self.base + "/console/sign-in")
            with self.subTest(page="console-sign-in", width=width):
                self.fits(width)
        self.driver.set_window_size(1280, 900)
        self.sign_in()
        # A share link and a token of long names, as the pages that overflowed showed them.
        body = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="%s"\r\n\r\nx\r\n--b--\r\n'
                % (b"quarterly-report-" * 6 + b".pdf"))
        self.request("POST", "/file", body, {"Content-Type": "multipart/form-data; boundary=b",
                                             "Authorization": "Bearer " + self.secret})
        self.app.tokens.create(["data:photos:read", "data:photos/2026/:write", "share:create", "metrics:read"],
                               "a-token-named-for-a-long-purpose-" + "x" * 20, s3=True)
        self.admin.put_object(Bucket="photos", Key="2026/sunset.png", Body=gradient(480, 270), ContentType="image/png")
        self.admin.put_object(Bucket="photos", Key="2026/" + "a-key-named-at-great-length-" * 6 + ".txt", Body=b"x")
        self.admin.create_bucket(Bucket="vault", ObjectLockEnabledForBucket=True)
        self.admin.put_object(Bucket="vault", Key="gone-for-now.txt", Body=b"deleted, kept as a version")
        self.admin.delete_object(Bucket="vault", Key="gone-for-now.txt")
        self.admin.put_object(Bucket="vault", Key="contracts/2026/lease-of-the-north-warehouse.pdf", Body=b"%PDF-",
                              ContentType="application/pdf", Tagging="team=legal&year=2026")
        self.admin.put_bucket_lifecycle_configuration(Bucket="photos", LifecycleConfiguration={"Rules": [
            {"ID": "logs", "Status": "Enabled", "Filter": {"Prefix": "logs/very/long/prefix/of/old/things/"},
             "Expiration": {"Days": 30}, "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}}]})
        pages = (("console", "/console/bucket?name=photos&prefix=2026%2F"),
                 ("console-bucket", "/console/bucket?name=photos"),
                 ("console-settings", "/console/bucket?name=photos#settings"),
                 ("console-changes", "/console/changes?name=photos"), ("console-upload", "/"),
                 ("console-deleted", "/console/object?bucket=vault&key=gone-for-now.txt"),
                 ("console-repository", "/console/repository?name=photos"),
                 ("console-locked", "/console/object?bucket=vault&key=contracts%2F2026%2Flease-of-the-north-"
                                    "warehouse.pdf#settings"),
                 ("console-object", "/console/object?bucket=photos&key=2026%2Fsunset.png"),
                 ("console-buckets", "/console"), ("console-links", "/console/links"),
                 ("console-tokens", "/console/tokens"), ("console-store", "/console/store"),
                 ("console-delete", "/console/delete?bucket=photos&key=notes.txt"),
                 ("console-upload-links", "/console/upload-links"))
        self.app.drops.make("photos", "from-the-wedding-guests-of-the-long-summer/",
                            {"name": "A link named at length for the guests of a long summer wedding",
                             "note": "Your photos, please: " + "the long note goes on " * 8}, "laptop",
                            self.app.shares.passwords.digest)
        for width in (360, 1280):
            self.driver.set_window_size(width, 900)
            for name, path in pages:
                self.driver.get(self.base + path)
                self.wait(lambda: self.element("h1").is_displayed(), "the page")
                with self.subTest(page=name, width=width):
                    self.fits(width)
                    broken = self.driver.execute_script(  # a word of a cell kept whole, broken over lines
                        "return [...document.querySelectorAll('td[data-label=When], td[data-label=What]')]"
                        ".filter(td => {"
                        " const r = document.createRange(); r.selectNodeContents(td);"
                        " const lines = new Set([...r.getClientRects()].map(x => Math.round(x.top)));"
                        " return lines.size > td.textContent.trim().split(/\\s+/).length; }).map(td => td.textContent)")
                    self.assertEqual(broken, [])
                shot = os.path.join(folder, "%s-%d.png" % (name, width))
                self.assertTrue(self.driver.save_screenshot(shot))
                with open(shot, "rb") as handle:
                    self.assertEqual(handle.read(8), b"\x89PNG\r\n\x1a\n")

    def test_a_share_links_copy_button(self):
        """Plain HTTP off localhost is no secure context: the link is selected for the reader to copy."""
        body = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nx\r\n--b--\r\n'
        url = self.request("POST", "/file", body, {"Content-Type": "multipart/form-data; boundary=b",
                                                   "Authorization": "Bearer " + self.secret}).json()["url"]
        self.sign_in()
        self.driver.get(self.base + "/console/links")
        self.driver.execute_script("Object.defineProperty(window, 'isSecureContext', {value: false})")
        self.driver.find_element("css selector", "button[data-copy]").click()
        said = self.driver.find_element("css selector", "span[id^=said-]")
        self.wait(lambda: said.text.startswith("Selected"), "the page says the link is selected")
        self.assertEqual(self.driver.execute_script("return window.getSelection().toString()"), url)

    def test_every_other_action_by_mouse(self):
        """New folder, deleting chosen keys, a share link, opening in the
        browser, copy, restoring a version, a repository, tokens."""
        self.sign_in()
        self.driver.get(self.base + "/console/bucket?name=photos&prefix=2026%2F")
        self.element("#folder").send_keys("trip")
        self.element("form[action='/console/folder'] button").click()
        self.wait(lambda: "trip" in self.element("nav.crumbs").text, "in the new folder")
        self.assertEqual(self.admin.head_object(Bucket="photos", Key="2026/trip/")["ContentLength"], 0)
        self.driver.get(self.base + "/console/bucket?name=photos&prefix=2026%2F")
        for name in ("cat.jpg", "dog.jpg"):
            self.element("input[value='2026/%s']" % name).click()
        self.element("#delete-chosen").click()
        self.wait(lambda: self.element("h1").text == "Delete?", "the confirmation of two")
        self.element("form[method=post][action='/console/delete'] button").click()
        self.wait(lambda: self.element("h1").text == "photos", "back in the folder")
        for name in ("cat.jpg", "dog.jpg"):
            self.assertEqual(self.code_of(self.admin.head_object, Bucket="photos", Key="2026/" + name), "404")

        self.driver.get(self.base + "/console/object?bucket=photos&key=notes.txt")
        self.element("#password").send_keys("pw")
        self.element("form[action='/console/share'] button").click()
        self.wait(lambda: self.element("h1").text == "Share link made", "the link")
        url = self.element("dd a").text
        self.assertEqual(self.request("GET", "/" + url.split("/", 3)[3], headers={"X-Password": "pw"}).body,
                         b"the bytes of notes.txt")
        self.link("Share links").click()  # the links this token made, and ending one
        self.wait(lambda: self.element("h1").text == "Share links", "the share links")
        self.assertIn("notes.txt", self.element("table").text)
        self.assertIn("1 of 1", self.element("table").text)  # the download above was taken
        self.assertIn("used up", self.element("table").text)
        self.driver.get(self.base + "/console/object?bucket=photos&key=notes.txt")
        self.element("form[action='/console/share'] button").click()
        self.wait(lambda: self.element("h1").text == "Share link made", "a second link")
        second = "/" + self.element("dd a").text.split("/", 3)[3]
        self.link("Share links").click()
        self.wait(lambda: self.element("h1").text == "Share links", "the share links again")
        self.element("button[aria-label='End the link to notes.txt']").click()
        self.wait(lambda: "live" not in self.element("table").text, "the link ended")
        self.assertEqual(self.request("GET", second).status, 410)

        self.driver.get(self.base + "/console/object?bucket=photos&key=notes.txt")
        self.link("Open in the browser").click()
        self.wait(lambda: "the bytes of notes.txt" in self.element("body").text, "the text shown")

        self.driver.get(self.base + "/console/object?bucket=photos&key=notes.txt")
        target = self.element("#target")
        target.clear()
        target.send_keys("copies/notes.txt")
        self.element("button[value=copy]").click()
        self.wait(lambda: self.element("h1").text == "copies/notes.txt", "the copy's page")
        self.assertEqual(self.admin.get_object(Bucket="photos", Key="notes.txt")["Body"].read(),
                         b"the bytes of notes.txt")  # a copy: the old key stays

        self.admin.put_bucket_versioning(Bucket="photos", VersioningConfiguration={"Status": "Enabled"})
        first = self.admin.put_object(Bucket="photos", Key="v.txt", Body=b"first")["VersionId"]
        self.admin.put_object(Bucket="photos", Key="v.txt", Body=b"second")
        self.driver.get(self.base + "/console/object?bucket=photos&key=v.txt&version=" + first)
        self.element("form[action='/console/copy'] button").click()
        self.wait(lambda: "version=" not in self.driver.current_url, "restored: the key's own page")
        self.assertEqual(self.admin.get_object(Bucket="photos", Key="v.txt")["Body"].read(), b"first")

        self.assertEqual(self.request("PUT", "/data/scans", b"a scan", {"Authorization": "Bearer " + self.secret}
                                      ).status, 201)
        self.driver.get(self.base + "/console")
        locked = self.request("POST", "/lfs/scans/locks", b'{"path": "art/hero.psd"}', {
            "Authorization": "Bearer " + self.secret, "Accept": LFS, "Content-Type": LFS})
        self.assertEqual(locked.status, 201, locked)
        self.link("scans").click()
        self.wait(lambda: "Repository scans" == self.element("h1").text, "the repository")
        self.assertIn("6 bytes", self.element("table").text)
        self.assertIn("art/hero.psd", self.element("main").text)  # its Git LFS lock, ended here
        self.element("button[aria-label='Unlock art/hero.psd']").click()
        self.wait(lambda: "No file of this repository is locked" in self.element("main").text, "unlocked")
        self.assertEqual(self.request("GET", "/lfs/scans/locks", headers={
            "Authorization": "Bearer " + self.secret, "Accept": LFS}).json()["locks"], [])

        self.link("Tokens").click()
        self.wait(lambda: self.element("h1").text == "Tokens", "the tokens")
        self.element("#name").send_keys("ci")
        self.element("#scopes").send_keys("files:write")
        self.element("form[action='/console/tokens'] button").click()
        self.wait(lambda: "The token ci" in self.element("main").text, "the new token's secret")
        secret = self.element("[role=status] dd code").text
        self.assertEqual(self.app.tokens.find(secret).name, "ci")
        self.element("button[aria-label='Revoke ci']").click()
        self.wait(lambda: "ci" not in [cell.text for cell in self.driver.find_elements("css selector", "td")],
                  "the token revoked")
        self.assertIsNone(self.app.tokens.find(secret))

    def test_the_first_hours_rough_edges_at_360_and_1280_pixels(self):
        """The console's edges a newcomer met (docs/console.md), in Chromium
        at both widths: a delete marker's page and its removal; a search's
        folder names whole, uploads landing in that folder, the upload form
        above the listing; recent changes' words whole; a delete in a
        bucket without versions said to be final, with Keep it first; a
        read-only token shown no page it may not see."""
        self.admin.put_object(Bucket="photos", Key="docs/03-mar/x.txt", Body=b"x")
        self.admin.create_bucket(Bucket="kept")
        self.admin.put_bucket_versioning(Bucket="kept", VersioningConfiguration={"Status": "Enabled"})
        self.admin.put_object(Bucket="kept", Key="cat.jpg", Body=b"the cat")
        marker = self.admin.delete_object(Bucket="kept", Key="cat.jpg")["VersionId"]
        _, reader = self.app.tokens.create(["data:photos:read"], "reader")
        self.sign_in()
        for width in (360, 1280):
            with self.subTest(width=width):
                self.driver.set_window_size(width, 900)
                self.driver.get(self.base + "/console/object?bucket=kept&key=cat.jpg&version=" + marker)
                self.wait(lambda: "is a delete marker" in self.element("main").text, "the marker's own page")
                self.fits(width)
                self.driver.get(self.base + "/console/bucket?name=photos&prefix=docs%2F0")
                self.wait(lambda: self.element("#listing").is_displayed(), "the search's listing")
                self.assertIn("03-mar/", [cell.text for cell in self.driver.find_elements("css selector",
                                                                                         "#listing td a")])
                self.assertLess(self.element("#upload").location["y"], self.element("#listing").location["y"])
                self.assertIn("docs/", self.element("#upload label").text)
                self.fits(width)
                self.driver.get(self.base + "/console/bucket?name=photos")
                cells = self.driver.find_elements("css selector", "td.words")
                self.assertTrue(cells)
                for cell in cells:  # a change's words wrap between words only
                    self.assertNotIn(self.driver.execute_script(
                        "return getComputedStyle(arguments[0]).wordBreak", cell), ("break-all", "break-word"))
                self.assertEqual(self.driver.execute_script(
                    "return getComputedStyle(arguments[0]).overflowWrap", cells[0]), "normal")
                self.driver.get(self.base + "/console/delete?bucket=photos&key=notes.txt")
                self.wait(lambda: "This is final" in self.element("main").text, "the final delete's page")
                keep = self.link("Keep it")
                delete = self.driver.find_element("xpath", "//main//button[normalize-space()='Delete']")
                self.assertEqual(delete.get_attribute("class"), "secondary")  # Keep it is the primary one
                above = delete.location["y"] - keep.location["y"] > keep.size["height"] / 2  # (on a line of its own)
                self.assertTrue(above or keep.location["x"] < delete.location["x"], (keep.location, delete.location))
                self.fits(width)
        self.driver.get(self.base + "/console/object?bucket=kept&key=cat.jpg&version=" + marker)
        self.link("Remove this delete marker").click()
        self.wait(lambda: "becomes the key's current one again" in self.element("main").text, "the confirmation")
        self.element("main form[action='/console/delete'] button[type=submit]").click()
        self.wait(lambda: self.app.keys.get("kept", "cat.jpg") is not None, "the key back")
        self.assertEqual(self.admin.get_object(Bucket="kept", Key="cat.jpg")["Body"].read(), b"the cat")
        self.driver.delete_all_cookies()
        self.secret = reader
        self.sign_in()
        shown = [link.get_attribute("href") for link in self.driver.find_elements("css selector", "nav a")]
        for page in ("/console/tokens", "/console/users", "/console/store"):
            self.assertFalse(any(href and href.endswith(page) for href in shown), (page, shown))
