"""The S3 API's port opened in a browser: a short page naming the console
(on the main port), not S3's XML refusal; S3 clients are answered as
before."""

from __future__ import annotations

from ..s3api_support import S3ApiCase

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


class FrontPageTests(S3ApiCase):
    def test_a_browser_is_shown_the_way_to_the_console_and_s3_clients_what_they_were(self):
        shown = self.s3("GET", "/", headers=BROWSER)
        self.assertEqual(shown.status, 200)
        self.assertTrue(shown.headers["Content-Type"].startswith("text/html"))
        text = shown.body.decode()
        self.assertIn('<a href="http://127.0.0.1:%d/console">' % self.port, text)
        self.assertIn("--endpoint-url %s" % self.s3_url, text)
        refused = self.s3("GET", "/")  # an unsigned S3 request, as before
        self.assertEqual(refused.status, 403)
        self.assertIn(b"<Code>AccessDenied</Code>", refused.body)
        self.assertEqual(self.s3("GET", "/", headers=BROWSER, key_pair=self.key_pair()).status, 200)
        self.assertIn(b"<ListAllMyBucketsResult", self.s3("GET", "/", headers=BROWSER, key_pair=self.key_pair()).body)
        self.assertEqual(self.s3("GET", "/", headers=BROWSER, query={"x-id": "ListBuckets"}).status, 403)  # S3's
