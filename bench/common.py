"""What the benchmarks share: the daemon and nginx as subprocesses on
loopback, curl and wrk timings, the report, and the tools they need."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Set, Tuple
from urllib.parse import urlsplit

from tests import support

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
MIB = 1024 * 1024
BIG = 50 * MIB
HUGE = 2 * 1024 * MIB  # the big-object rows' size

NGINX_CONF = """
worker_processes {workers};
pid {work}/nginx.pid;
error_log {work}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
    access_log {work}/nginx-access.log;  # its default format ("combined"), as our daemon logs by default
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 100000;
    client_body_temp_path {work}/nginx-body;
    client_max_body_size 60m;
    server {{
        listen 127.0.0.1:{port};
        listen 127.0.0.1:{tls_port} ssl;
        ssl_certificate {work}/cert.pem;
        ssl_certificate_key {work}/key.pem;
        root {work}/nginx-root;
        location / {{
            dav_methods PUT DELETE;
            create_full_put_path on;
        }}
    }}
}}
"""


def make_certificate(work: str) -> Tuple[str, str]:
    """A self-signed certificate for 127.0.0.1, shared by nginx and the daemon."""
    cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
    if not os.path.exists(cert):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True)
    return cert, key


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on %d" % port)


def curl(*args: str) -> float:
    """Run curl, return its total time in seconds; fail loudly on HTTP errors."""
    out = subprocess.run(["curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%{time_total}", *args],
                         check=True, capture_output=True, text=True).stdout
    return float(out)


def median_rate(times: List[float], size: int) -> float:
    return size / MIB / statistics.median(times)


class Daemon(support.Daemon):
    """The daemon as shipped (its defaults, the access log on), its log in a
    file (as nginx's), in a session of its own, as nginx (which daemonizes)
    and as systemd runs a service: with the kernel's scheduler autogroups, a
    server in the bench's own session would share one group's CPU time with
    the load generator instead of getting its own. Started at once; returns
    when every worker answers."""

    def __init__(self, work: str, *extra: str, port: int = 0, env: Optional[Dict[str, str]] = None,
                 launcher: Sequence[str] = (), tree: Optional[str] = None) -> None:
        """``tree``: the source tree it runs from (``checkout``), this one's without it."""
        os.makedirs(work, exist_ok=True)
        port = port or free_port()
        if tree is not None:  # (``python -m`` imports from its working directory first, PYTHONPATH after it)
            env = dict(env or {}, PYTHONPATH=tree)
        super().__init__(os.path.join(work, "daemon-store"), *extra, env=env, port=port,
                         log=os.path.join(work, "daemon-%d.log" % port), own_session=True, log_level=None,
                         launcher=launcher, cwd=tree)
        self.start()
        # The port accepts once the parent binds: wait for the workers too.
        setting = extra[list(extra).index("--workers") + 1] if "--workers" in extra else "auto"
        workers = len(os.sched_getaffinity(0)) if setting == "auto" else int(setting)
        deadline = time.monotonic() + 30
        while len(self.processes()) < (1 if workers == 1 else workers + 1) and time.monotonic() < deadline:
            time.sleep(0.05)
        for _ in range(4 * workers):
            _get(self.url + "/healthz")

    def rss(self, field: str = "VmRSS") -> int:
        """``field`` of /proc/PID/status summed over the parent and every worker
        (for VmHWM: the sum of each process's own peak)."""
        total = 0
        for pid in self.processes():
            with open("/proc/%d/status" % pid) as status:
                total += next(int(line.split()[1]) * 1024 for line in status if line.startswith(field + ":"))
        return total

    def pss(self) -> int:
        """The proportional set size summed over the parent and every worker
        (/proc/PID/smaps_rollup): pages shared between them counted once."""
        total = 0
        for pid in self.processes():
            with open("/proc/%d/smaps_rollup" % pid) as rollup:
                total += next(int(line.split()[1]) * 1024 for line in rollup if line.startswith("Pss:"))
        return total

    def reset_peak(self) -> None:
        for pid in self.processes():
            with open("/proc/%d/clear_refs" % pid, "w") as refs:
                refs.write("5")  # resets VmHWM to the current RSS

    def peak_growth(self, jobs: List[List[str]]) -> float:
        """MiB the daemon's peak RSS grows while the curl ``jobs`` run at once."""
        baseline = self.rss()
        self.reset_peak()
        threads = [threading.Thread(target=curl, args=job) for job in jobs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return (self.rss("VmHWM") - baseline) / MIB


class PlainFileServer:
    """``python -m http.server`` over a folder, in a session of its own as
    the daemon and nginx are; a context manager."""

    def __init__(self, folder: str) -> None:
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self._process = subprocess.Popen([sys.executable, "-m", "http.server", str(self.port), "--bind", "127.0.0.1",
                                          "--directory", folder], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL, start_new_session=True)
        wait_port(self.port)

    def __enter__(self) -> "PlainFileServer":
        return self

    def __exit__(self, *exc_info) -> None:
        self._process.terminate()
        self._process.wait(10)


class Nginx:
    def __init__(self, work: str, workers: str = "auto") -> None:
        self.port = free_port()
        # nginx's workers run as an unprivileged user: let them in.
        os.chmod(work, 0o755)
        for folder in ("nginx-root", "nginx-body"):
            os.makedirs(os.path.join(work, folder), exist_ok=True)
            os.chmod(os.path.join(work, folder), 0o777)
        make_certificate(work)
        os.chmod(os.path.join(work, "key.pem"), 0o644)  # nginx's workers read it too
        self.tls_port = free_port()
        conf = os.path.join(work, "nginx.conf")
        with open(conf, "w") as handle:
            handle.write(NGINX_CONF.format(work=work, port=self.port, tls_port=self.tls_port, workers=workers))
        subprocess.run(["nginx", "-c", conf, "-p", work], check=True)
        self.work = work
        wait_port(self.port)
        self.url = "http://127.0.0.1:%d" % self.port
        self.tls_url = "https://127.0.0.1:%d" % self.tls_port

    def stop(self) -> None:
        with open(os.path.join(self.work, "nginx.pid")) as handle:
            os.kill(int(handle.read()), signal.SIGQUIT)


def wrk(url: str, seconds: int = 5, cpus: Optional[Set[int]] = None, threads: int = 2) -> Tuple[float, float, int]:
    """Requests/s, p99 latency (ms) and errors for GETs of ``url`` over 64 connections,
    measured after a 2 s warm-up run (connections and their threads set up);
    ``cpus``: the only CPUs wrk may run on; ``threads``: wrk's."""
    keep = None if cpus is None else (lambda: os.sched_setaffinity(0, cpus))
    subprocess.run(["wrk", "-t%d" % threads, "-c64", "-d2s", url], check=True, capture_output=True, preexec_fn=keep)
    out = subprocess.run(["wrk", "-t%d" % threads, "-c64", "-d%ds" % seconds, "--latency", url],
                         check=True, capture_output=True, text=True, preexec_fn=keep).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99_text = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    p99 = float(p99_text.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99_text.group(2)]
    errors = 0
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_2xx:
        errors += int(non_2xx.group(1))
    return rate, p99, errors


def upload_oid(url: str, path: str, *options: str) -> str:
    """POST the file at ``path`` to the daemon at ``url``; its content address."""
    out = subprocess.run(["curl", "-sS", "--fail", *options, "-T", path, "-X", "POST", "-H", "Expect:", url + "/files"],
                         check=True, capture_output=True, text=True).stdout
    return re.search(r'"hash":"([0-9a-f]{64})"', out).group(1)


def _get(url: str) -> None:
    """GET ``url`` (a certificate of our own taken as it is); an answer but 200 stops the bench."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.netloc, timeout=30, context=ssl._create_unverified_context())
    else:
        connection = http.client.HTTPConnection(parts.netloc, timeout=30)
    try:
        connection.request("GET", parts.path)
        answer = connection.getresponse()
        answer.read()
        if answer.status != 200:
            raise SystemExit("bench: GET %s answered %d" % (url, answer.status))
    finally:
        connection.close()


class Report:
    def __init__(self) -> None:
        self.rows: List[Tuple[str, str, str, str, str]] = []

    def add(self, name: str, ours: str, reference: str, ratio: Optional[float], goal: str, ok: bool) -> None:
        """One row; ``ratio`` None for a figure with no reference (shown as "-")."""
        shown = "-" if ratio is None else "%.2fx" % ratio
        self.rows.append((name, ours, reference, shown, "%s %s" % (goal, "ok" if ok else "MISSED")))

    def show(self) -> None:
        header = ("measure", "filestoraged", "reference", "ratio", "goal")
        widths = [max(len(r[i]) for r in self.rows + [header]) for i in range(5)]
        for row in [header] + self.rows:
            print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)))



@contextmanager
def checkout(rev: str, folder: str) -> Iterator[str]:
    """``rev`` checked out into a git worktree at ``folder`` (a daemon runs
    from it with ``Daemon(..., tree=folder)``), removed afterwards."""
    subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", folder, rev], check=True, capture_output=True)
    try:
        yield folder
    finally:
        subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", folder], capture_output=True)


def random_files(folder: str, count: int, size: int) -> None:
    """``count`` files of ``size`` random bytes in ``folder``, named
    ``00000``, ``00001``, ...: made, or written over with bytes no server
    holds yet (the daemon keeps one copy of each content, so a file it holds
    costs it less to take again)."""
    for index in range(count):
        with open(os.path.join(folder, "%05d" % index), "wb") as out:
            out.write(os.urandom(size))


def session_cpu(leader: int) -> float:
    """CPU seconds (user and system) of every process in ``leader``'s
    session: a daemon's parent and workers, or a reference server's
    processes, each started in a session of its own."""
    total = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == leader:  # the session id (field 6 of proc(5))
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def clients_cpu(leader: int, clients: int, prepare: Callable[[], Callable[[], None]], what: str) -> float:
    """CPU seconds of ``leader``'s session (``session_cpu``) while
    ``clients`` threads run at once, each what ``prepare()`` gave it (made
    before the count starts, once every thread is ready); any thread's
    failure, or one that hangs, stops the bench naming ``what``."""
    failures: List[BaseException] = []
    start = threading.Barrier(clients + 1)

    def client() -> None:
        try:
            action = prepare()
            start.wait(60)
            action()
        except BaseException as error:  # reported by the bench's thread
            failures.append(error)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    start.wait(60)
    before = session_cpu(leader)
    for thread in threads:
        thread.join(300)
    spent = session_cpu(leader) - before
    if failures or any(thread.is_alive() for thread in threads):
        raise SystemExit("bench: the %s row failed: %s" % (what, failures[0] if failures else "a client hung"))
    return spent


def ensure_tools(*names: str) -> None:
    """Install the tools a benchmark measures with or against (Debian package
    names equal the commands here) when missing and we are root; otherwise
    stop with one line. A ratio is never printed against a missing reference."""
    missing = [name for name in names if shutil.which(name) is None]
    if not missing:
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing %s with apt-get" % " ".join(missing), file=sys.stderr)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env, stdout=subprocess.DEVNULL)
        missing = [name for name in names if shutil.which(name) is None]
    if missing:
        sys.exit("bench: needs %s (as root: apt-get install %s)" % (", ".join(missing), " ".join(missing)))
