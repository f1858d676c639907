"""The S3 backend against the store it writes to: 50 MiB uploads and
downloads through the daemon vs the same transfers made directly to the
store with ``curl --aws-sigv4``, in the same run, on a SeaweedFS (``weed
mini``) started here on loopback; and the daemon's memory for 5 vs 50 MiB."""

from __future__ import annotations

import hashlib
import os
import subprocess

from .common import BIG, MIB, Daemon, curl, ensure_tools, median_rate
from .seaweed import Seaweed


def run(work: str, runs: int, report) -> None:
    ensure_tools("curl")
    with Seaweed(work) as store:
        endpoint, sigv4, env = store.endpoint, store.sigv4, store.env
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
