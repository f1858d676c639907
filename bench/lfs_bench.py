"""Git LFS through the daemon: ``git push`` of 100 x 1 MiB plus 1 x 200 MiB
and a fresh ``git clone``, with Debian's git-lfs, beside

- the same bytes sent straight to ``/data`` and fetched back with curl, 8 at
  a time as git-lfs transfers (what the protocol itself costs), and
- giftless (PyPI) with its local storage under gunicorn (2 sync workers, as
  many as the daemon's), the Python Git LFS server this one is measured
  against. It is installed into a virtualenv of its own in the bench folder
  when missing; if it cannot be, its rows say so and show no ratio.

This group changes one setting: ``--max-size 256M`` (the default, 50 MiB,
refuses the 200 MiB object). Each run pushes to a new repository (on both
servers), so that every object is sent.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional

from .common import MIB, Daemon, Report, ensure_tools, free_port, wait_port

SMALL_FILES = 100
BIG_FILE = 200 * MIB
GIFTLESS = ["giftless==0.6.2", "gunicorn", "flask", "flask-classful", "flask-marshmallow", "marshmallow", "webargs",
            "figcan", "python-dotenv", "python-dateutil", "pyyaml", "pyjwt", "cachetools", "typing_extensions",
            "werkzeug"]
# giftless hands out actions signed for the identity that asked; its
# anonymous user has none, so the bench gives every request one.
IDENTITY = '''from giftless.auth.allow_anon import AnonymousUser
from giftless.auth.identity import Permission


def named(_):
    user = AnonymousUser(name="bench", id="bench")
    user.allow(permissions=Permission.all())
    return user
'''
CONFIG = """AUTH_PROVIDERS:
  - factory: giftless.auth.jwt:factory
    options: {{algorithm: HS256, private_key: bench-only-signing-key-of-32-bytes!}}
  - bench_identity:named
PRE_AUTHORIZED_ACTION_PROVIDER:
  factory: giftless.auth.jwt:factory
  options: {{algorithm: HS256, private_key: bench-only-signing-key-of-32-bytes!, default_lifetime: 3600}}
TRANSFER_ADAPTERS:
  basic:
    options:
      storage_options: {{path: {storage}}}
"""


class Giftless:
    """giftless under gunicorn on loopback, or ``failed`` saying why not."""

    def __init__(self, work: str) -> None:
        self.failed: Optional[str] = None
        self.process: Optional[subprocess.Popen] = None
        venv = os.path.join(os.environ.get("BENCH_DIR", "/var/tmp"), "fsd-bench-giftless")
        python = os.path.join(venv, "bin", "python")
        try:
            if not os.path.exists(python) or subprocess.run([python, "-c", "import giftless, gunicorn, flask"],
                                                            capture_output=True).returncode:
                subprocess.run([sys.executable, "-m", "venv", venv], check=True, capture_output=True)
                subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *GIFTLESS],
                               check=True, capture_output=True, timeout=600)
        except (OSError, subprocess.SubprocessError) as error:
            self.failed = "giftless could not be installed (%s)" % str(error).splitlines()[0][:120]
            return
        folder = os.path.join(work, "giftless")
        os.makedirs(os.path.join(folder, "storage"))
        with open(os.path.join(folder, "bench_identity.py"), "w") as out:
            out.write(IDENTITY)
        with open(os.path.join(folder, "config.yaml"), "w") as out:
            out.write(CONFIG.format(storage=os.path.join(folder, "storage")))
        self.port = free_port()
        env = dict(os.environ, PYTHONPATH=folder, GIFTLESS_CONFIG_FILE=os.path.join(folder, "config.yaml"),
                   PYTHONWARNINGS="ignore")
        with open(os.path.join(folder, "gunicorn.log"), "wb") as log:
            self.process = subprocess.Popen([os.path.join(venv, "bin", "gunicorn"), "-w", "2", "-b",
                                             "127.0.0.1:%d" % self.port, "--timeout", "600",
                                             "giftless.wsgi_entrypoint:app"], env=env, cwd=folder,
                                            stdout=log, stderr=log, start_new_session=True)
        wait_port(self.port)
        self.url = "http://127.0.0.1:%d" % self.port

    def lfs_url(self, repo: str) -> str:
        return "%s/bench/%s" % (self.url, repo)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(30)


class Git:
    """git and git-lfs with a home of their own."""

    def __init__(self, work: str) -> None:
        self.home = os.path.join(work, "git-home")
        os.makedirs(self.home)
        self.env = dict(os.environ, HOME=self.home, GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0")
        for setting in (("user.name", "bench"), ("user.email", "bench@example.org"), ("init.defaultBranch", "main")):
            self(work, "config", "--global", *setting)
        self(work, "lfs", "install", "--skip-repo")

    def __call__(self, cwd: str, *args: str) -> float:
        started = time.monotonic()
        subprocess.run(["git", *args], cwd=cwd, env=self.env, check=True, capture_output=True, timeout=1200)
        return time.monotonic() - started


def run(work: str, runs: int, report: Report) -> None:
    ensure_tools("git", "git-lfs", "curl")
    git = Git(work)
    source = os.path.join(work, "lfs-source")
    os.makedirs(source)
    git(source, "init", "-q", "-b", "main")
    git(source, "lfs", "track", "*.bin")
    for number in range(SMALL_FILES):
        with open(os.path.join(source, "small-%03d.bin" % number), "wb") as out:
            out.write(os.urandom(MIB))
    with open(os.path.join(source, "big.bin"), "wb") as out:
        for _ in range(BIG_FILE // MIB):
            out.write(os.urandom(MIB))
    git(source, "add", ".")
    git(source, "commit", "-qm", "assets")
    total = SMALL_FILES * MIB + BIG_FILE
    daemon = Daemon(os.path.join(work, "lfs-daemon"), "--max-size", "256M")
    giftless = Giftless(work)
    try:
        sides: Dict[str, Callable[[str], str]] = {"ours": lambda repo: "%s/lfs/%s" % (daemon.url, repo)}
        if giftless.failed is None:
            sides["giftless"] = giftless.lfs_url
        pushes: Dict[str, List[float]] = {side: [] for side in sides}
        clones: Dict[str, List[float]] = {side: [] for side in sides}
        growth: List[float] = []
        for number in range(max(1, min(runs, 3))):
            for side, lfs_url in sides.items():
                repo = "run%d%s" % (number, side)
                remote = os.path.join(work, repo + ".git")
                git(work, "init", "-q", "--bare", "-b", "main", remote)
                git(source, "config", "lfs.url", lfs_url(repo))
                git(source, "config", "remote.origin.url", remote)
                with Peak(daemon) if side == "ours" else contextlib.nullcontext() as peak:
                    pushes[side].append(git(source, "push", "-q", "origin", "main"))
                if side == "ours":
                    growth.append(peak.growth)
                clone = os.path.join(work, repo + "-clone")
                clones[side].append(git(work, "-c", "lfs.url=" + lfs_url(repo), "clone", "-q", remote, clone))
                shutil.rmtree(clone)
        straight_up, straight_down = _straight(daemon, source, runs)
        push = statistics.median(pushes["ours"])
        clone = statistics.median(clones["ours"])
        report.add("git lfs push 100 x 1 MiB + 200 MiB, MiB/s (vs the bytes curled to /data)",
                   "%.0f" % (total / MIB / push), "%.0f" % (total / MIB / straight_up), straight_up / push,
                   "(the protocol's cost)", True)
        report.add("git clone of it, MiB/s (vs the bytes curled from /data)", "%.0f" % (total / MIB / clone),
                   "%.0f" % (total / MIB / straight_down), straight_down / clone, "(the protocol's cost)", True)
        if giftless.failed is not None:
            report.add("git lfs push and clone vs giftless", "-", "-", None, giftless.failed, False)
        else:
            theirs_push, theirs_clone = statistics.median(pushes["giftless"]), statistics.median(clones["giftless"])
            report.add("git lfs push, MiB/s vs giftless (gunicorn, 2 workers)", "%.0f" % (total / MIB / push),
                       "%.0f" % (total / MIB / theirs_push), theirs_push / push, ">= 2x", theirs_push / push >= 2)
            report.add("git clone, MiB/s vs giftless (gunicorn, 2 workers)", "%.0f" % (total / MIB / clone),
                       "%.0f" % (total / MIB / theirs_clone), theirs_clone / clone, ">= 2x", theirs_clone / clone >= 2)
        worst = max(growth)
        report.add("daemon RSS growth during a push, MiB", "%.1f" % worst, "-", None, "<= 32 MiB (flat)", worst <= 32)
    finally:
        daemon.stop()
        giftless.stop()


def _straight(daemon: Daemon, source: str, runs: int):
    """Seconds to PUT every file of ``source`` to /data (8 at a time) and to
    GET them back: the same bytes with no protocol around them."""
    names = sorted(name for name in os.listdir(source) if name.endswith(".bin"))
    ups, downs = [], []
    for number in range(max(1, min(runs, 3))):
        repo = "straight%d" % number
        up = ["curl", "-sS", "--fail", "-o", "/dev/null", "-X", "PUT", "-H", "Expect:", "-T", "{}",
              "%s/data/%s" % (daemon.url, repo)]
        ups.append(_parallel(up, [os.path.join(source, name) for name in names]))
        listing = subprocess.run(["curl", "-sS", "--fail", "%s/data/%s?limit=1000" % (daemon.url, repo)],
                                 check=True, capture_output=True, text=True).stdout
        oids = [entry.split('"')[0] for entry in listing.split('"oid":"')[1:]]
        down = ["curl", "-sS", "--fail", "-o", "/dev/null", "%s/data/%s/{}" % (daemon.url, repo)]
        downs.append(_parallel(down, oids))
    return statistics.median(ups), statistics.median(downs)


def _parallel(template: List[str], items: List[str]) -> float:
    """Seconds for one curl per item, 8 at a time (as git-lfs transfers)."""
    started = time.monotonic()
    subprocess.run(["xargs", "-P", "8", "-I", "{}", *template], input="\n".join(items), text=True, check=True)
    return time.monotonic() - started


class Peak:
    """The daemon's peak RSS growth (MiB) over a ``with`` block."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.growth = 0.0

    def __enter__(self) -> "Peak":
        self.baseline = self.daemon.rss()
        self.daemon.reset_peak()
        return self

    def __exit__(self, *exc_info) -> None:
        self.growth = (self.daemon.rss("VmHWM") - self.baseline) / MIB
