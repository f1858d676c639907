"""A request for the daemon's other port is told which port to use, in
its client's own language, at once: the AWS CLI pointed at the HTTP port
(an S3 XML error, not the upload page and retries), the filestoraged
client pointed at the S3 API's port (its JSON error, not "only Signature
Version 4")."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import tempfile
import time
import unittest

from filestoraged.client.arguments import main

from ..s3api_support import BotoCase, tool_or_skip


class WrongPortTests(BotoCase):
    def test_an_s3_client_on_the_http_port_is_told_the_s3_port(self):
        s3_port = self.s3_url.rsplit(":", 1)[1]
        import boto3
        from botocore.config import Config

        key_id, secret = self.key_pair()
        wrong = boto3.client("s3", endpoint_url="http://127.0.0.1:%d" % self.port, region_name="us-east-1",
                             aws_access_key_id=key_id, aws_secret_access_key=secret,
                             config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
        for call, kwargs in ((wrong.list_buckets, {}), (wrong.put_object, {"Bucket": "b", "Key": "k", "Body": b"x"})):
            with self.subTest(call=call.__name__):
                with self.assertRaises(self.ClientError) as caught:
                    call(**kwargs)
                error = caught.exception.response
                self.assertEqual((error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"]),
                                 (421, "WrongPort"))
                self.assertIn("S3 API is on port %s" % s3_port, error["Error"]["Message"])
                self.assertEqual(error["ResponseMetadata"]["RetryAttempts"], 0)

    def test_the_aws_cli_says_so_at_once(self):
        aws = tool_or_skip("aws")
        key_id, secret = self.key_pair()
        home = tempfile.mkdtemp(prefix="fsd-aws-")
        started = time.monotonic()
        done = subprocess.run([aws, "--endpoint-url", "http://127.0.0.1:%d" % self.port, "s3", "ls"],
                              capture_output=True, text=True, timeout=60,
                              env=dict(os.environ, AWS_ACCESS_KEY_ID=key_id, AWS_SECRET_ACCESS_KEY=secret,
                                       AWS_DEFAULT_REGION="us-east-1", HOME=home, AWS_CONFIG_FILE=os.devnull))
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("WrongPort", done.stderr)
        self.assertIn("S3 API is on port %s" % self.s3_url.rsplit(":", 1)[1], done.stderr)
        self.assertLess(time.monotonic() - started, 8)  # no retries: the CLI itself takes a few seconds to start

    def test_our_client_on_the_s3_port_is_told_the_http_port(self):
        _, secret = self.app.tokens.create(["admin"], "cli")
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(["--url", self.s3_url, "--token", secret, "ls", "shelf"])
        self.assertEqual(status, 1)
        self.assertIn("HTTP API, and the filestoraged client, are on port %d" % self.port, err.getvalue())
        reply = self.request("GET", "/healthz")  # the main port itself is as it was
        self.assertEqual(reply.status, 200)


if __name__ == "__main__":
    unittest.main()
