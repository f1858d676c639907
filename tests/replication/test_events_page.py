"""docs/events.md's commands run as written, in page order, beside a
daemon with its S3 API (its data directory, S3 port and a webhook of the
test's put in for the page's): the webhook defined and listed, the
bucket's configuration set and read back with the aws CLI; then a
picture written gets its event to the webhook, signed with the secret the
page made."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import tempfile
import unittest
from http.server import BaseHTTPRequestHandler
from typing import List

from ..page_runs import as_reader, blocks
from ..s3api_support import tool_or_skip
from ..support import Daemon, exchange, free_port, serve_in_thread, wait_until

PAGE = "docs/events.md"


class Hook(BaseHTTPRequestHandler):
    got: List[tuple] = []

    def do_POST(self) -> None:
        Hook.got.append((dict(self.headers), self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


class EventsPageTests(unittest.TestCase):
    def test_the_pages_commands_run_in_page_order(self):
        tools = {"aws": tool_or_skip("aws")}
        Hook.got = []
        hook = serve_in_thread(self, Hook)
        work = tempfile.mkdtemp(prefix="fsd-events-page-")
        self.addCleanup(shutil.rmtree, work, True)
        s3_port = free_port()
        daemon = Daemon(os.path.join(work, "store"), "--s3-api", "127.0.0.1:%d" % s3_port).start()
        self.addCleanup(daemon.stop)
        self.assertEqual(exchange(s3_port, "PUT", "/photos")[0], 200)  # the page's bucket, there before
        found = blocks(PAGE)
        self.assertEqual([block[0].split()[0] for block in found], ["head", "cat", "head", '{"Records":',
                                                                    '{"Records":'])  # the JSON: what is sent
        define, configure, store_events = found[0], found[1], found[2]
        script = "\n".join(define + configure + store_events + ["filestoraged bucket webhooks --data-dir "
                                                                 "/var/lib/filestoraged", "cat thumbnails.secret"])
        script = script.replace("/etc/filestoraged/", "").replace(
            "https://thumbs.example.net/events", "http://127.0.0.1:%d/events" % hook.server_address[1])
        script = script.replace("https://audit.example.net/events",
                                "http://127.0.0.1:%d/audit" % hook.server_address[1])
        script = "export AWS_ACCESS_KEY_ID=any AWS_SECRET_ACCESS_KEY=any AWS_DEFAULT_REGION=us-east-1\n" + \
            script.replace("127.0.0.1:9000", "127.0.0.1:%d" % s3_port)
        ran = as_reader(self, script, os.path.join(work, "store"), daemon.port, {}, tools)
        self.assertEqual(ran.returncode, 0, ran.stderr)
        self.assertIn("thumbnails\thttp://127.0.0.1:%d/events" % hook.server_address[1], ran.stdout)
        self.assertRegex(ran.stdout, r"audit\thttp://127.0.0.1:\d+/audit\t.*\tfilestoraged:ShareLinkSpent")
        said = json.loads(ran.stdout[ran.stdout.index("{"):ran.stdout.rindex("}") + 1])
        self.assertEqual(said["QueueConfigurations"][0]["QueueArn"], "arn:filestoraged:sqs::thumbnails:webhook")
        secret = ran.stdout.splitlines()[-1].encode()
        self.assertEqual(exchange(s3_port, "PUT", "/photos/2026/dog%201.jpg", b"woof")[0], 200)
        self.assertEqual(exchange(s3_port, "PUT", "/photos/notes.txt", b"not a picture")[0], 200)
        wait_until(lambda: Hook.got, "the event at the webhook", timeout=30)
        headers, body = Hook.got[0]
        self.assertEqual(headers["X-Filestoraged-Signature"],
                         "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest())
        record = json.loads(body)["Records"][0]
        self.assertEqual((record["eventName"], record["s3"]["object"]["key"], record["s3"]["object"]["size"]),
                         ("ObjectCreated:Put", "2026/dog+1.jpg", 4))
        self.assertEqual(len(Hook.got), 1)  # notes.txt: not a .jpg


if __name__ == "__main__":
    unittest.main()
