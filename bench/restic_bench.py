"""restic backing up into the daemon's restic face, beside restic backing
up into ``rclone serve restic --append-only`` (Debian's rclone: a REST
server over a folder), taking turns run by run: the same tree of
``BIG_FILES`` files of random bytes (``BIG_MIB`` MiB in all) and
``SMALL_FILES`` small ones, a first backup into a new repository, then
``INCREMENTS`` more, each after a change of its own (``CHANGED_MIB`` MiB
of new bytes and a tenth of the small files rewritten).

Measured per backup: its wall time, the server's CPU seconds (every
process of its session, from ``/proc``), and at the end the bytes each
server keeps on disk for the repository (its whole data directory for
the daemon: objects, their block lists and its databases). The daemon
runs as shipped: its defaults (access control off on loopback, as
rclone's is without ``--htpasswd``)."""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import time
from typing import Dict, List

from .common import Daemon, Report, ensure_tools, free_port, session_cpu

BIG_MIB = 200
BIG_FILES = 25
SMALL_FILES = 20_000
CHANGED_MIB = 20
# Incremental backups measured a run, each after a change of its own, and
# averaged: one costs rclone two or three ticks of CPU (10 ms each, the
# unit the kernel counts a process's CPU in), four give the ratio a tenth.
INCREMENTS = 4
PASSWORD = "bench password"
TREE = "%d MiB in %d files + %s small files" % (BIG_MIB, BIG_FILES, f"{SMALL_FILES:,}")


def run(work: str, runs: int, report: Report) -> None:
    ensure_tools("restic", "rclone")
    tree = os.path.join(work, "restic-tree")
    _make_tree(tree)
    measured: Dict[str, Dict[str, List[float]]] = {side: {} for side in ("ours", "rclone")}
    for number in range(max(1, min(runs, 3))):  # a run is two backups of the whole tree per side
        order = ["ours", "rclone"] if number % 2 == 0 else ["rclone", "ours"]
        for side in order:
            shutil.rmtree(os.path.join(tree, "changed"), ignore_errors=True)  # the last run's change undone
            for name, value in _backups(work, side, tree, number).items():
                measured[side].setdefault(name, []).append(value)
    ours, theirs = ({name: statistics.median(values) for name, values in measured[side].items()}
                    for side in ("ours", "rclone"))
    for which in ("first", "second"):
        what = "restic backup, %s (%s)" % ("first" if which == "first" else
                                            "incremental, after a change (mean of %d)" % INCREMENTS, TREE)
        report.add(what + ": wall seconds vs rclone serve restic --append-only", "%.1f" % ours[which + " wall"],
                   "%.1f" % theirs[which + " wall"], ours[which + " wall"] / theirs[which + " wall"],
                   "(stated; lower is faster)", True)
        report.add(what + ": server CPU seconds vs rclone serve restic", "%.2f" % ours[which + " cpu"],
                   "%.2f" % theirs[which + " cpu"], ours[which + " cpu"] / theirs[which + " cpu"],
                   "(stated; lower is cheaper)", True)
    report.add("restic repository after all the backups: MiB on disk vs rclone serve restic",
               "%.1f" % (ours["disk"] / 2 ** 20), "%.1f" % (theirs["disk"] / 2 ** 20), ours["disk"] / theirs["disk"],
               "(stated)", True)


def _make_tree(tree: str) -> None:
    os.makedirs(os.path.join(tree, "small"))
    each = BIG_MIB * 2 ** 20 // BIG_FILES
    for number in range(BIG_FILES):
        with open(os.path.join(tree, "big%02d.bin" % number), "wb") as out:
            out.write(os.urandom(each))
    for number in range(SMALL_FILES):
        folder = os.path.join(tree, "small", "%03d" % (number // 200))
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "%05d.txt" % number), "wb") as out:
            out.write(os.urandom(256 + number % 3840))


def _change(tree: str, number: int) -> None:
    os.makedirs(os.path.join(tree, "changed"))
    with open(os.path.join(tree, "changed", "new.bin"), "wb") as out:
        out.write(os.urandom(CHANGED_MIB * 2 ** 20))
    for index in range(0, SMALL_FILES, 10):
        path = os.path.join(tree, "small", "%03d" % (index // 200), "%05d.txt" % index)
        with open(path, "wb") as out:
            out.write(os.urandom(256 + (index + number) % 3840))


def _backups(work: str, side: str, tree: str, number: int) -> Dict[str, float]:
    """A new repository on a new server of ``side``, a first backup, then
    ``INCREMENTS`` of a change and a backup: the first's wall time and
    server CPU, the increments' mean, then the bytes on disk."""
    folder = os.path.join(work, "restic-%s-%d" % (side, number))
    cache = os.path.join(work, "restic-cache-%s-%d" % (side, number))
    server, leader, repository, stored = _serve(side, folder)
    try:
        env = dict({name: value for name, value in os.environ.items() if not name.startswith("RESTIC_")},
                   RESTIC_PASSWORD=PASSWORD, RESTIC_REPOSITORY=repository, RESTIC_CACHE_DIR=cache)
        _restic(env, "init")
        found: Dict[str, float] = {"second wall": 0.0, "second cpu": 0.0}
        cpu, started = session_cpu(leader), time.monotonic()
        _restic(env, "backup", tree)
        found["first wall"], found["first cpu"] = time.monotonic() - started, session_cpu(leader) - cpu
        for increment in range(INCREMENTS):
            shutil.rmtree(os.path.join(tree, "changed"), ignore_errors=True)
            _change(tree, number * INCREMENTS + increment)
            cpu, started = session_cpu(leader), time.monotonic()
            _restic(env, "backup", tree)
            found["second wall"] += (time.monotonic() - started) / INCREMENTS
            found["second cpu"] += (session_cpu(leader) - cpu) / INCREMENTS
        found["disk"] = _bytes_on_disk(stored)
        return found
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)


def _serve(side: str, folder: str):
    """``(server, its session's leader pid, the repository URL, the folder it stores in)``."""
    if side == "ours":
        daemon = Daemon(folder)
        return daemon, daemon.process.pid, "rest:%s/restic/bench/" % daemon.url, daemon.data_dir
    port = free_port()
    stored = os.path.join(folder, "repository")
    os.makedirs(stored)
    rclone = _Rclone(["rclone", "serve", "restic", "--append-only", "--addr", "127.0.0.1:%d" % port, stored])
    return rclone, rclone.process.pid, "rest:http://127.0.0.1:%d/" % port, stored


class _Rclone:
    """``rclone serve restic`` in a session of its own; ready once its port takes a request."""

    def __init__(self, command: List[str]) -> None:
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True)
        port = int(command[command.index("--addr") + 1].rpartition(":")[2])
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise SystemExit("bench: rclone serve restic did not start")
                time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def _restic(env: Dict[str, str], *args: str) -> None:
    done = subprocess.run(["restic", "-q", *args], env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit("bench: restic %s failed: %s" % (args[0], done.stderr[-500:]))


def _bytes_on_disk(folder: str) -> int:
    total = 0
    for root, _, names in os.walk(folder):
        for name in names:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                pass
    return total
