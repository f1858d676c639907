"""Events to a webhook (docs/events.md): a bucket's notification
configuration set and read back through boto3, naming a webhook the
operator defined; versions written and deleted while the webhook answers
503, then while it answers again: every event arrives (a delivery again
only with the same id), in the order of each key's changes, each signed
with the webhook's secret, saying what S3's events say."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
from http.server import BaseHTTPRequestHandler
from typing import List, Tuple

from filestoraged.catalog.notifications import SHARE_SPENT, Webhooks

from ..s3api_support import BotoCase
from ..support import multipart, serve_in_thread, wait_until

SECRET = b"a webhook secret of the operator's"
# Deliveries refused before the webhook answers again (FSD_WEBHOOK_TRIES=7 by hand: a webhook away for a minute).
REFUSED = int(os.environ.get("FSD_WEBHOOK_TRIES", "2"))


class Receiver(BaseHTTPRequestHandler):
    """The webhook: keeps every delivery while ``up``, else answers 503."""

    up = threading.Event()
    got: List[Tuple[dict, bytes]] = []
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if not self.up.is_set():
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        with self.lock:
            self.got.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


class EventTests(BotoCase):
    def setUp(self) -> None:
        super().setUp()
        Receiver.up.clear()
        Receiver.got = []
        server = serve_in_thread(self, Receiver)
        secret = os.path.join(self.data_dir, "..", "hook.secret")
        with open(secret, "wb") as file:
            file.write(SECRET + b"\n")
        Webhooks(self.app.records).define("hook", "http://127.0.0.1:%d/events" % server.server_address[1],
                                          os.path.abspath(secret))
        self.admin.create_bucket(Bucket="photos")
        self.admin.put_bucket_versioning(Bucket="photos", VersioningConfiguration={"Status": "Enabled"})

    def configure(self, **filters) -> None:
        config = {"Id": "everything", "QueueArn": "arn:filestoraged:sqs::hook:webhook",
                  "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}
        if filters:
            config["Filter"] = {"Key": {"FilterRules": [{"Name": name, "Value": value}
                                                        for name, value in filters.items()]}}
        self.admin.put_bucket_notification_configuration(
            Bucket="photos", NotificationConfiguration={"QueueConfigurations": [config]})

    def test_every_event_arrives_signed_in_order_per_key_after_the_webhook_was_away(self):
        self.configure()
        read = self.admin.get_bucket_notification_configuration(Bucket="photos")["QueueConfigurations"]
        self.assertEqual([(one["Id"], one["QueueArn"], one["Events"]) for one in read],
                         [("everything", "arn:filestoraged:sqs::hook:webhook",
                           ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"])])
        expected = []  # (key, event name, version id, size)
        for round_ in range(10):
            for key in ("a.jpg", "b/c.txt", "d e.png"):
                body = os.urandom(100 + round_)
                version = self.admin.put_object(Bucket="photos", Key=key, Body=body)["VersionId"]
                expected.append((key, "ObjectCreated:Put", version, len(body)))
        marker = self.admin.delete_object(Bucket="photos", Key="a.jpg")["VersionId"]
        expected.append(("a.jpg", "ObjectRemoved:DeleteMarkerCreated", marker, None))
        self.admin.delete_object(Bucket="photos", Key="b/c.txt", VersionId=expected[1][2])
        expected.append(("b/c.txt", "ObjectRemoved:Delete", expected[1][2], None))
        wait_until(lambda: self.app.outbox.first(1) and self.app.outbox.first(1)[0].tries >= REFUSED,
                   "%d deliveries refused" % REFUSED, timeout=30 + 2 ** REFUSED)
        Receiver.up.set()
        wait_until(lambda: len({headers["X-Filestoraged-Event-Id"] for headers, _ in Receiver.got})
                   == len(expected), "every event delivered", timeout=30 + min(60, 2 ** REFUSED))  # (its next try)
        seen, arrived = set(), []
        for headers, body in Receiver.got:
            signature = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
            self.assertEqual(headers["X-Filestoraged-Signature"], signature)
            event = json.loads(body)["Records"][0]
            self.assertEqual(headers["X-Filestoraged-Event-Id"], event["s3"]["object"]["sequencer"])
            if headers["X-Filestoraged-Event-Id"] in seen:
                continue  # delivered again: the same id, the same event
            seen.add(headers["X-Filestoraged-Event-Id"])
            obj = event["s3"]["object"]
            self.assertEqual((event["eventSource"], event["s3"]["bucket"]["name"], event["s3"]["configurationId"]),
                             ("filestoraged:s3", "photos", "everything"))
            arrived.append((obj["key"], event["eventName"], obj.get("versionId"), obj.get("size")))
        encoded = {"a.jpg": "a.jpg", "b/c.txt": "b/c.txt", "d e.png": "d+e.png"}
        for key in encoded:  # in the order of each key's changes
            self.assertEqual([one[1:] for one in arrived if one[0] == encoded[key]],
                             [one[1:] for one in expected if one[0] == key])

    def test_a_file_sent_through_an_upload_link_has_an_event_of_its_own(self):
        self.admin.put_bucket_notification_configuration(Bucket="photos", NotificationConfiguration={
            "QueueConfigurations": [{"Id": "drops", "QueueArn": "arn:filestoraged:sqs::hook:webhook",
                                     "Events": ["filestoraged:DropUpload"]}]})
        Receiver.up.set()
        owner = self.app.tokens.create(["data:photos/in/:create", "data:photos/in/:read"], "ana")[1]
        made = self.request("POST", "/drops", json.dumps({"bucket": "photos", "prefix": "in", "name": "Acme"}).encode(),
                            {"Authorization": "Bearer " + owner, "Content-Type": "application/json"})
        self.assertEqual(made.status, 201, made)
        self.admin.put_object(Bucket="photos", Key="in/by-s3.txt", Body=b"not through the link")
        path = made.json()["url"].split("127.0.0.1:%d" % self.port)[1]
        self.assertEqual(self.request("PUT", path + "/scan.pdf", b"%PDF a scan", {"X-Uploader": "Bob"}).status, 201)
        wait_until(lambda: Receiver.got, "the event delivered")
        wait_until(lambda: not self.app.outbox.first(1), "the outbox is empty")
        records = [json.loads(body)["Records"][0] for _, body in Receiver.got]
        self.assertEqual([(one["eventName"], one["s3"]["object"]["key"]) for one in records],
                         [("filestoraged:DropUpload", "in/scan.pdf")])
        self.assertIn("via upload link 'Acme'", records[0]["userIdentity"]["principalId"])

    def test_a_share_link_used_up_is_told_once_to_the_webhooks_that_asked(self):
        webhooks = Webhooks(self.app.records)
        hook = webhooks.get("hook")
        webhooks.define("hook", hook.url, hook.secret, (SHARE_SPENT,))  # asks for the store's events too
        Receiver.up.set()
        sharer = self.app.tokens.create(["share:create"], "sharer")[1]

        def share(downloads: int) -> str:
            body, content_type = multipart({"max_downloads": str(downloads),
                                            "file": ("r.txt", b"report", "text/plain")})
            made = self.request("PUT", "/file", body, {"Content-Type": content_type,
                                                       "Authorization": "Bearer " + sharer})
            self.assertEqual(made.status, 201, made)
            return made.json()["url"].split("127.0.0.1:%d" % self.port, 1)[1]

        spent, other = share(2), share(3)
        for path in (spent, spent, other):
            self.assertEqual(self.request("GET", path).status, 200)
        self.assertEqual(self.request("GET", spent).status, 410)
        wait_until(lambda: Receiver.got, "the event delivered")
        wait_until(lambda: not self.app.outbox.first(1), "the outbox is empty")
        records = [json.loads(body)["Records"][0] for _, body in Receiver.got]
        self.assertEqual([(one["eventName"], one["filestoraged"]["shareLink"]["id"]) for one in records],
                         [("filestoraged:ShareLinkSpent", spent.rsplit("/", 1)[1])])  # once; the other lives on

    def test_a_delete_is_told_by_the_configuration_standing_at_its_commit(self):
        version = self.admin.put_object(Bucket="photos", Key="late.txt", Body=b"late")["VersionId"]
        as_found = self.app.buckets.get("photos")  # the bucket as the delete's request looked it up, before ...
        self.configure()  # ... the configuration came
        self.app.keyspace.forget(as_found, "late.txt", version)
        self.assertEqual([(item.key, item.fields["event"]) for item in self.app.outbox.first(10)],
                         [("late.txt", "s3:ObjectRemoved:Delete")])

    def test_a_filter_narrows_the_events_and_an_unknown_webhook_is_refused(self):
        self.configure(prefix="b/", suffix=".txt")
        Receiver.up.set()
        self.admin.put_object(Bucket="photos", Key="a.jpg", Body=b"a")
        self.admin.put_object(Bucket="photos", Key="b/c.txt", Body=b"c")
        wait_until(lambda: Receiver.got, "an event delivered")
        wait_until(lambda: not self.app.outbox.first(1), "the outbox is empty")
        self.assertEqual([json.loads(body)["Records"][0]["s3"]["object"]["key"] for _, body in Receiver.got],
                         ["b/c.txt"])
        unknown = {"QueueArn": "arn:filestoraged:sqs::nobody:webhook", "Events": ["s3:ObjectCreated:*"]}
        code = self.code_of(self.admin.put_bucket_notification_configuration, Bucket="photos",
                            NotificationConfiguration={"QueueConfigurations": [unknown]})
        self.assertEqual(code, "InvalidArgument")
        for refused in ({"EventBridgeConfiguration": {}},  # an AWS service, and a filter by what is not kept
                        {"QueueConfigurations": [{"QueueArn": "arn:filestoraged:sqs::hook:webhook",
                                                  "Events": ["s3:ObjectCreated:*"],
                                                  "Filter": {"Key": {"FilterRules": [{"Name": "prefix",
                                                                                      "Value": "b/"}]}}}],
                         "TopicConfigurations": [{"TopicArn": "arn:aws:sns:us-east-1:1:t",
                                                  "Events": ["s3:ObjectCreated:*"]}]}):
            self.assertEqual(self.code_of(self.admin.put_bucket_notification_configuration, Bucket="photos",
                                          NotificationConfiguration=refused), "InvalidArgument")
        kept = self.admin.get_bucket_notification_configuration(Bucket="photos")["QueueConfigurations"]
        self.assertEqual([one["Filter"]["Key"]["FilterRules"] for one in kept],  # nothing refused took its place
                         [[{"Name": "prefix", "Value": "b/"}, {"Name": "suffix", "Value": ".txt"}]])
        self.admin.put_bucket_notification_configuration(Bucket="photos", NotificationConfiguration={})
        self.assertNotIn("QueueConfigurations", self.admin.get_bucket_notification_configuration(Bucket="photos"))
