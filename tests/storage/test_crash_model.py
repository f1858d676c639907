"""``kill -9`` at random moments while writers go through S3 and WebDAV
(puts, deletes, copies and moves over existing keys, multipart uploads)
and ``/data``: after each restart every key holds what its last answered
write left, or what the write in flight when the daemon died would have
left; every object ``/data`` answered for is there; and ``fsck`` finds
the store clean without ``--repair``. Each writer keeps to keys of its
own, so a model of what each key may hold is exact."""

from __future__ import annotations

import hashlib
import http.client
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest
from typing import Dict, List, Optional, Tuple

from ..support import ROOT, Daemon, Threads, exchange, free_port

WRITERS = 6
ROUNDS = 5
KEYS = 6  # keys per writer
SIZES = (0, 100, 65536, 65537, 300_000)  # around the small writes' journal's bound (64 KiB)
BUCKET = "crashes"


class Gone(Exception):
    """The daemon went away under a request (the kill)."""


def call(port: int, method: str, target: str, body: bytes = b"",
         headers: Optional[Dict[str, str]] = None) -> Tuple[int, bytes]:
    """``exchange``, a daemon gone under it said as ``Gone``."""
    try:
        return exchange(port, method, target, body, headers)
    except (OSError, http.client.HTTPException) as error:
        raise Gone(str(error)) from None


def digest(data: Optional[bytes]) -> Optional[str]:
    """What the model keeps of a key's bytes (None: the key is absent)."""
    return None if data is None else hashlib.sha256(data).hexdigest()


class Model:
    """What each key may hold, as the SHA-256 of its bytes: ``sure`` after
    an answered write (None: absent), and what the one write in flight for
    it would leave."""

    def __init__(self) -> None:
        self.sure: Dict[str, Optional[str]] = {}
        self.in_flight: Dict[str, List[Optional[str]]] = {}
        self.objects: Dict[str, bytes] = {}  # /data: sha256 -> bytes answered for

    def begin(self, **outcomes: Optional[str]) -> None:
        for key, value in outcomes.items():
            self.in_flight.setdefault(key, []).append(value)

    def answered(self, **outcomes: Optional[str]) -> None:
        for key, value in outcomes.items():
            self.sure[key] = value
            self.in_flight.pop(key, None)

    def allowed(self, key: str) -> List[Optional[str]]:
        return [self.sure.get(key)] + self.in_flight.get(key, [])


class Load:
    """The writers of one round: each stops when the daemon goes away."""

    def __init__(self, case: "KilledUnderLoadTests", seed: int) -> None:
        self.case, self.seed = case, seed
        self.answers = 0
        self.counted = threading.Condition()

    def tally(self) -> None:
        with self.counted:
            self.answers += 1
            self.counted.notify_all()

    def reached(self, answers: int, timeout: float) -> bool:
        """Whether ``answers`` writes were answered within ``timeout`` seconds."""
        with self.counted:
            return self.counted.wait_for(lambda: self.answers >= answers, timeout=timeout)

    def write(self, writer: int) -> None:
        rng = random.Random(self.seed * 1000 + writer)
        try:
            while True:
                self.step(rng, ["w%d-k%d" % (writer, n) for n in range(KEYS)])
                self.tally()
        except Gone:
            return

    def step(self, rng: random.Random, keys: List[str]) -> None:
        case, model = self.case, self.case.model
        s3, main = case.s3_port, case.daemon.port
        key, other = rng.sample(keys, 2)
        data = rng.randbytes(rng.choice(SIZES))
        written = digest(data)
        kind = rng.randrange(7)
        if kind == 0:
            model.begin(**{key: written})
            case.expect(call(s3, "PUT", "/%s/%s" % (BUCKET, key), data), 200)
            model.answered(**{key: written})
        elif kind == 1:
            model.begin(**{key: written})
            case.expect(call(main, "PUT", "/dav/%s/%s" % (BUCKET, key), data), 201, 204)
            model.answered(**{key: written})
        elif kind == 2:
            model.begin(**{key: None})
            target = rng.choice(["/%s/%s" % (BUCKET, key), "/dav/%s/%s" % (BUCKET, key)])
            case.expect(call(s3 if target.startswith("/" + BUCKET) else main, "DELETE", target), 204, 404)
            model.answered(**{key: None})
        elif kind in (3, 4):
            source = model.sure.get(other)
            if source is None:
                return
            moves = kind == 4
            model.begin(**{key: source, **({other: None} if moves else {})})
            case.expect(call(main, "MOVE" if moves else "COPY", "/dav/%s/%s" % (BUCKET, other),
                             headers={"Destination": "/dav/%s/%s" % (BUCKET, key), "Overwrite": "T"}), 201, 204)
            model.answered(**{key: source, **({other: None} if moves else {})})
        elif kind == 5:
            model.begin(**{key: written})
            said = case.expect(call(s3, "POST", "/%s/%s?uploads" % (BUCKET, key)), 200)
            upload = said.split(b"<UploadId>")[1].split(b"</UploadId>")[0].decode()
            case.expect(call(s3, "PUT", "/%s/%s?partNumber=1&uploadId=%s" % (BUCKET, key, upload), data), 200)
            etag = '"%s"' % hashlib.md5(data).hexdigest()
            finish = ("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>%s</ETag></Part>"
                      "</CompleteMultipartUpload>" % etag).encode()
            case.expect(call(s3, "POST", "/%s/%s?uploadId=%s" % (BUCKET, key, upload), finish), 200)
            model.answered(**{key: written})
        else:
            case.expect(call(main, "PUT", "/data/%s" % BUCKET, data), 201)
            model.objects[hashlib.sha256(data).hexdigest()] = data


class KilledUnderLoadTests(unittest.TestCase):
    def setUp(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="fsd-crash-model-")
        self.addCleanup(shutil.rmtree, self.folder, True)
        self.s3_port = free_port()
        self.daemon = Daemon(self.folder, "--s3-api", "127.0.0.1:%d" % self.s3_port, "--auth", "off").start()
        self.addCleanup(self.daemon.stop)
        self.expect(call(self.s3_port, "PUT", "/" + BUCKET), 200)
        self.model = Model()

    def expect(self, answer: Tuple[int, bytes], *statuses: int) -> bytes:
        """The answer's body, once its status is one of ``statuses``."""
        if answer[0] not in statuses:
            raise AssertionError("answered %d, not %s: %r" % (answer[0], statuses, answer[1][:300]))
        return answer[1]

    def test_every_answered_write_survives_kill_9_and_the_store_stays_clean(self):
        rng = random.Random(20261129)
        for round_ in range(ROUNDS):
            load = Load(self, round_)
            enough = rng.randrange(20, 80)
            with Threads(deadline=120) as threads:
                for writer in range(WRITERS):
                    threads.start(load.write, writer)
                self.assertTrue(load.reached(enough, timeout=60), round_)
                self.daemon.kill()
            self.daemon.start()
            self.assert_as_the_model_says(round_)
        self.assertEqual(self.daemon.stop(), 0)
        checked = subprocess.run([sys.executable, "-m", "filestoraged", "fsck", "--data-dir", self.folder],
                                 capture_output=True, text=True, timeout=300, env=dict(os.environ, PYTHONPATH=ROOT))
        self.assertEqual(checked.returncode, 0, checked.stdout + checked.stderr)

    def assert_as_the_model_says(self, round_: int) -> None:
        model = self.model
        for key in sorted(set(model.sure) | set(model.in_flight)):
            status, found = call(self.s3_port, "GET", "/%s/%s" % (BUCKET, key))
            self.assertIn(status, (200, 404), (round_, key, found[:300]))
            held = digest(found) if status == 200 else None
            self.assertIn(held, model.allowed(key), (round_, key))
            model.answered(**{key: held})
        for oid, data in model.objects.items():
            self.assertEqual(call(self.daemon.port, "GET", "/data/%s/%s" % (BUCKET, oid)), (200, data), round_)


if __name__ == "__main__":
    unittest.main()
