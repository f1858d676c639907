"""Run ``python -m filestoraged ARGS`` with counters around its records,
its SQLite statements and its Python-level syncs, for ``bench.key_costs``:
``python bench/counted.py PYTHON -m filestoraged ARGS`` (the form
``bench.common.Daemon`` builds with this file as its launcher).

Run as a file, not as ``bench.counted``: the package it counts is whichever
``filestoraged`` ``PYTHONPATH`` names (this checkout, or an older commit's
worktree), and nothing here imports more of it than the records' modules.
On SIGUSR1 (blocked in every thread, taken by one of its own: the
daemon's main thread waits in sigwait and runs no handler) it writes the counts so far, as JSON, to the file named by
``FSD_COUNTS`` (replaced whole, with a sequence number the reader waits
for). The system's own syncs (SQLite's among them) are counted outside,
by strace.

- records: each call of a records store's get, create, replace, delete,
  keys and items made from outside the records (a store that wraps another
  counts once; ``update``'s reads and writes count as themselves);
- statements: every SQL statement run on any connection (SQLite's, and
  PostgreSQL's where the records are on a database), and of them the
  transactions (``BEGIN``)."""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import runpy
import signal
import sqlite3
import sys
import threading
from collections import Counter

COUNTED = ("get", "create", "replace", "delete", "keys", "items")
counts: Counter = Counter()
_inside = threading.local()
_snapshots = [0]


def _count_statement(statement: str) -> None:
    counts["statements"] += 1
    if statement.lstrip()[:5].upper() == "BEGIN":
        counts["transactions"] += 1


def _traced_connect(*args, **kwargs):
    connection = _connect(*args, **kwargs)
    connection.set_trace_callback(_count_statement)
    return connection


_connect = sqlite3.connect


def _depth() -> int:
    return getattr(_inside, "depth", 0)


def _counted(name, method):
    def call(self, *args, **kwargs):
        if _depth() == 0:
            counts["records." + name] += 1
        _inside.depth = _depth() + 1
        try:
            result = method(self, *args, **kwargs)
        finally:
            _inside.depth -= 1
        if name in ("keys", "items"):
            return _counted_pages(result)
        return result

    call.__wrapped__ = method
    return call


def _counted_pages(iterator):
    """A page's iteration, where a wrapping store reads its inner one, is
    inside the call that made it."""
    iterator = iter(iterator)
    while True:
        _inside.depth = _depth() + 1
        try:
            item = next(iterator)
        except StopIteration:
            return
        finally:
            _inside.depth -= 1
        yield item


def _wrap_records() -> None:
    package = importlib.import_module("filestoraged.records")
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module("filestoraged.records." + module.name)
    interface = importlib.import_module("filestoraged.records.interface")
    seen, todo = set(), [interface.Records]
    while todo:
        kind = todo.pop()
        todo.extend(kind.__subclasses__())
        if kind in seen:
            continue
        seen.add(kind)
        for name in COUNTED:
            method = kind.__dict__.get(name)
            if method is not None and not getattr(method, "__isabstractmethod__", False):
                setattr(kind, name, _counted(name, method))


def _wrap_database() -> None:
    """PostgreSQL's statements (records on a database), where the package has the client."""
    try:
        postgres = importlib.import_module("filestoraged.wire.postgres")
    except ImportError:
        return
    for name in ("query", "run"):
        method = getattr(postgres.Connection, name)

        def counted(self, sql, *args, method=method, **kwargs):
            _count_statement(sql)
            return method(self, sql, *args, **kwargs)

        setattr(postgres.Connection, name, counted)


def _count_syncs() -> None:
    for name in ("fsync", "fdatasync"):
        original = getattr(os, name)

        def synced(fd, original=original):
            counts["python_syncs"] += 1
            return original(fd)

        setattr(os, name, synced)


def _write_counts() -> None:
    path = os.environ["FSD_COUNTS"]
    while True:
        signal.sigwait({signal.SIGUSR1})
        _snapshots[0] += 1
        with open(path + ".new", "w") as out:
            json.dump({"snapshot": _snapshots[0], "counts": dict(counts)}, out)
        os.replace(path + ".new", path)


def main() -> None:
    if sys.argv[2:4] != ["-m", "filestoraged"]:
        sys.exit("usage: counted.py PYTHON -m filestoraged ARGS")
    sys.path.remove(os.path.dirname(os.path.abspath(__file__)))  # bench's own files are not the daemon's
    sqlite3.connect = _traced_connect
    _count_syncs()
    _wrap_records()
    _wrap_database()
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})  # before any thread starts: all inherit it
    threading.Thread(target=_write_counts, name="counts", daemon=True).start()
    sys.argv = ["filestoraged"] + sys.argv[4:]
    runpy.run_module("filestoraged", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
