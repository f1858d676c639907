"""The S3 port driven by the client its web features are for: Chromium.
A page on another origin uploads through an HTML form made from boto3's
presigned POST, and sends a presigned PUT with ``fetch`` where the
bucket's CORS rules allow its origin (and is stopped by the browser where
they do not)."""

from __future__ import annotations

import hashlib
import html
import os
import shutil
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from ..s3api_support import ChromiumBotoCase
from ..pages.test_pages import wait_in


class _Pages(BaseHTTPRequestHandler):
    """The web app's own origin: the page it is given, and where a form's
    browser is sent once stored."""

    page = b""

    def do_GET(self) -> None:
        body = self.page if self.path == "/" else b"<title>done</title>stored"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # quiet
        pass


class S3InChromiumTests(ChromiumBotoCase):
    def setUp(self) -> None:
        super().setUp()
        self.admin.create_bucket(Bucket="box")
        self.app_server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
        thread = threading.Thread(target=self.app_server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        self.addCleanup(thread.join, 10)
        self.addCleanup(self.app_server.server_close)
        self.addCleanup(self.app_server.shutdown)
        self.origin = "http://127.0.0.1:%d" % self.app_server.server_address[1]

    def show(self, page: str) -> None:
        _Pages.page = page.encode()
        self.driver.get(self.origin + "/")

    def test_a_page_uploads_through_the_form_a_presigned_post_makes(self):
        done = self.origin + "/done"
        form = self.client("data:box:write").generate_presigned_post(
            "box", "photos/${filename}", Fields={"success_action_redirect": done},
            Conditions=[{"success_action_redirect": done}, ["content-length-range", 1, 10000]], ExpiresIn=600)
        hidden = "".join('<input type="hidden" name="%s" value="%s">' % (html.escape(name), html.escape(value))
                         for name, value in form["fields"].items())
        self.show('<form action="%s" method="post" enctype="multipart/form-data">%s'
                  '<input type="file" name="file"><button>Upload</button></form>' % (form["url"], hidden))
        folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, folder, True)
        path = os.path.join(folder, "beach.png")
        with open(path, "wb") as picture:
            picture.write(b"\x89PNG the pixels")
        self.driver.find_element("css selector", "input[type=file]").send_keys(path)
        self.driver.find_element("css selector", "button").click()
        wait_in(self.driver, lambda: self.driver.current_url.startswith(done), "the browser is sent on")
        sent_on = parse_qs(urlsplit(self.driver.current_url).query)
        self.assertEqual(sent_on["key"], ["photos/beach.png"])
        self.assertEqual(sent_on["etag"], ['"%s"' % hashlib.md5(b"\x89PNG the pixels").hexdigest()])
        self.assertEqual(self.admin.get_object(Bucket="box", Key="photos/beach.png")["Body"].read(),
                         b"\x89PNG the pixels")

    def put_from_the_page(self, key: str) -> dict:
        """A presigned PUT of ``key`` sent by the page's script: its status
        and the ETag it could read, or the error the browser gave."""
        url = self.client("data:box:write").generate_presigned_url("put_object", Params={"Bucket": "box", "Key": key},
                                                                   ExpiresIn=600)
        self.show("<title>app</title>")
        self.driver.set_script_timeout(20)
        return self.driver.execute_async_script("""
            const done = arguments[arguments.length - 1];
            fetch(arguments[0], {method: "PUT", body: "from the page", headers: {"Content-Type": "text/plain"}})
              .then(answer => done({status: answer.status, etag: answer.headers.get("ETag")}))
              .catch(error => done({error: String(error)}));""", url)

    def test_a_page_on_an_allowed_origin_puts_and_reads_the_etag_and_another_is_stopped(self):
        self.assertIn("error", self.put_from_the_page("refused.txt"))  # no rules: the preflight is 403
        with self.assertRaises(self.ClientError):
            self.admin.head_object(Bucket="box", Key="refused.txt")
        self.admin.put_bucket_cors(Bucket="box", CORSConfiguration={"CORSRules": [
            {"AllowedOrigins": [self.origin], "AllowedMethods": ["PUT"], "AllowedHeaders": ["content-type"],
             "ExposeHeaders": ["ETag"]}]})
        self.assertEqual(self.put_from_the_page("allowed.txt"),
                         {"status": 200, "etag": '"%s"' % hashlib.md5(b"from the page").hexdigest()})
        self.assertEqual(self.admin.get_object(Bucket="box", Key="allowed.txt")["Body"].read(), b"from the page")
