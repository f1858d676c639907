"""The ``filestoraged`` command: serve (the default), fsck, token, and the
client's put, get, rm and ls (``client``)."""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import sys
import threading
from typing import Optional, Sequence

from . import __version__
from . import config as config_module
from . import logs
from . import systemd
from .app import App
from .web.server import FileStoreServer
from .web.tls import TlsConfigError

log = logging.getLogger(__name__)

# Decision: how long a thread may hold the GIL while others wait for it
# (CPython's default is 5 ms). Every connection has its own thread; with the
# default, a thread that keeps winning the GIL back after its short syscalls
# starves the others, and with 64 connections the slowest 1% of 1 KiB GETs
# waited over 100 ms. At 0.2 ms they wait about a third of that, for about
# a tenth less throughput; big transfers are unaffected (hashing, file
# and socket I/O run without the GIL).
GIL_SWITCH_SECONDS = 0.0002
CLIENT_COMMANDS = ("put", "get", "rm", "ls")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Exit status 0; 2 for bad configuration, 1 for an environment that will
    not serve (a port in use, a data directory that cannot be written, a
    missing dependency): each one line on stderr, never a traceback."""
    argv = list(sys.argv[1:] if argv is None else argv)
    first = argv[2:3] if argv[:1] == ["--url"] else argv[:1]
    if first and first[0] in CLIENT_COMMANDS:  # the client: put, get, rm, ls
        from .client.commands import main as client_main

        return client_main(argv)
    try:
        config = config_module.load(argv)
    except config_module.ConfigError as error:
        return _fail(str(error), 2)
    logs.configure(config.log_level)
    if config.command == "fsck":
        return run_fsck(config)
    if config.command == "token":
        return run_token(config)
    try:
        return serve(config)
    except TlsConfigError as error:
        return _fail(error.text, 2)
    except ImportError as error:
        return _fail("the %s backend needs %s: pip install %s" % (config.backend, error.name, error.name), 1)
    except OSError as error:
        return _fail(_environment_problem(config, error), 1)


# Decision: pymemcache reads values 4 KiB per recv (a module constant). Raw
# get_many of 1 MiB chunks more than doubles with 64 KiB (776 -> 1,911 MiB/s
# measured), so the daemon, which owns its process, sets it once here, at
# start-up; importing the library (seed 000's users do) never changes it.
MEMCACHED_RECV_SIZE = 64 * 1024


def _memcached_receive_size() -> None:
    import pymemcache.client.base

    pymemcache.client.base.RECV_SIZE = MEMCACHED_RECV_SIZE


def _fail(message: str, status: int) -> int:
    print("filestoraged: " + message, file=sys.stderr)
    return status


def _environment_problem(config, error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        return "port %d on %s is in use: stop what holds it, or pass another --port" % (config.port, config.host)
    if error.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT) or isinstance(error, socket.gaierror):
        return "cannot listen on %r: give an address of this machine with --host" % config.host
    where = getattr(error, "filename", None) or config.data_dir
    return "cannot use the data directory %s (%s): check --data-dir and its permissions" % (
        where, error.strerror or error)


def serve(config) -> int:
    # SIGTERM/SIGINT are blocked in every thread (threads inherit the mask, so
    # this comes before any is started) and taken synchronously by sigwait in
    # the main thread. A Python signal handler would not do: the kernel may
    # deliver the signal to another thread, and the main thread, blocked in a
    # lock, would never run the handler.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
    if config.backend == "memcached":
        _memcached_receive_size()
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    app = App(config)
    try:
        server = FileStoreServer(app, systemd.activation_socket())
    except BaseException:
        app.close()
        raise
    print("filestoraged %s: serving %s%s, data in %s (%s backend); stop with Ctrl-C or SIGTERM"
          % (__version__, server.url, " (the key-value store alone, at /)" if config.kv_at_root else "",
             os.path.abspath(config.data_dir), config.backend), file=sys.stderr)
    stop = threading.Event()
    serving = threading.Thread(target=server.serve_forever, name="accept", daemon=True)
    serving.start()
    systemd.notify("READY=1\nSTATUS=serving on %s" % server.url)
    watchdog = systemd.start_watchdog(stop)
    received = signal.sigwait(stop_signals)
    stop.set()
    log.info("%s received", signal.Signals(received).name)
    log.info("stopping: no new connections, draining in-flight requests")
    server.begin_stop()  # idle keep-alive connections close; busy ones after their answer
    systemd.notify("STOPPING=1")
    server.shutdown()  # from the main thread, never the one in serve_forever
    # Close the listener now, not after the drain: new connections are then
    # refused at once (under socket activation systemd keeps the socket, and
    # they wait for the next start) instead of hanging in the backlog.
    server.socket.close()
    drained = server.drain(config.shutdown_grace)
    if not drained:
        log.warning("grace period over with requests still running")
    server.server_close()
    if watchdog is not None:
        watchdog.join(1)
    app.close()
    log.info("stopped")
    return 0


def run_fsck(config) -> int:
    from .storage.disk.backend import DiskBackend
    from .storage.disk.fsck import fsck

    if config.backend != "disk":
        return _fail("fsck checks the disk backend only", 2)
    if not os.path.isdir(config.data_dir):
        return _fail("no data directory at %s: check --data-dir" % os.path.abspath(config.data_dir), 2)
    # Safe beside a serving daemon: nothing in .tmp is touched.
    report = fsck(DiskBackend(config.data_dir, config.max_size, sweep_tmp=False), repair=config.repair)
    print("%d objects checked, %d corrupt, %d moved to .corrupt/, %d without block digests%s, "
          "%d stored values refused%s"
          % (report.checked, len(report.corrupt), len(report.repaired), len(report.unrecorded),
             " (written)" if config.repair else "", len(report.refused_values),
             " (removed)" if config.repair else ""))
    for where in report.corrupt:
        print("corrupt: " + where)
    for where in report.refused_values:
        print("refused value: " + where)
    return 1 if not report.clean and not config.repair else 0


def run_token(config) -> int:
    """``token create --scope S [--name N] [--expires-in S]`` (the secret alone
    on the last line), ``token list`` (never secrets), ``token revoke NAME``."""
    import os
    from datetime import datetime, timezone

    from .errors import FileStoreError
    from .meta.tokens import TokenStore

    def when(stamp) -> str:
        return "-" if stamp is None else datetime.fromtimestamp(stamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    action = config.words[0] if config.words else ""
    os.makedirs(config.data_dir, exist_ok=True)
    tokens = TokenStore(os.path.join(config.data_dir, "meta.db"))
    try:
        if action == "create" and len(config.words) == 1:
            token, secret = tokens.create(config.scopes, config.token_name or None, config.expires_in or None)
            print("token %s: %s, expires %s" % (token.name, " ".join(token.scopes), when(token.expires_at)))
            print(secret)
        elif action == "list" and len(config.words) == 1:
            print("name\tscopes\tcreated\texpires\tlast used")
            for token in tokens.list():
                print("\t".join((token.name, " ".join(token.scopes), when(token.created_at),
                                 when(token.expires_at), when(token.last_used))))
        elif action == "revoke" and len(config.words) == 2:
            tokens.revoke(config.words[1])
            print("revoked %s" % config.words[1])
        else:
            print("usage: filestoraged token create --scope SCOPE [--scope ...] [--name NAME] [--expires-in SECONDS]"
                  " | token list | token revoke NAME", file=sys.stderr)
            return 2
    except FileStoreError as error:
        print("filestoraged token: %s" % error.text, file=sys.stderr)
        return 1
    finally:
        tokens.close()
    return 0
