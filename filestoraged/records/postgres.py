"""Records in PostgreSQL (``--records postgresql://USER@HOST:PORT/DB``):
any number of daemons over one database, the bytes in an S3 store.

One table, ``filestoraged_records (key, value, version)``, its key the
primary key in byte order (``COLLATE "C"``), so a page of keys from a
point is one range read of the index at any size. A version is drawn from
one sequence: a record deleted and made again never gets back a version
a stale reader holds. Each operation is one statement (a compare-and-swap
is a conditional ``UPDATE``); ``update`` is one transaction that locks the
row it changes (racing writers wait their turn, as on SQLite); ``batch``
makes its block one transaction (one commit).

Decision: ``atomic`` stays False. A batch here is one transaction, but
under PostgreSQL's read committed another daemon's commit may land
between two of its reads, which SQLite's one writer at a time never
allows; so the callers take the path written for stores where each step
stands alone (the one ``--records s3`` runs and its cross-daemon tests
prove), and the transaction only saves commits. A key's change, where
nothing may follow its commit, is ``serialized``: one transaction at
``SERIALIZABLE``, run again from its start on a serialization failure
(``SERIAL_TRIES`` times), as a key's change runs on ``--records local``.

The address: ``postgresql://USER@HOST[:PORT]/DATABASE[?tls=…&ca=…&passfile=…]``;
the password from the file ``passfile`` names, or ``PGPASSWORD``, never
from the address (which logs print). A database that does not answer, or
a connection lost, is 503 (``BackendUnavailable``); connections are
opened again as needed, at most ``POOL`` a process.
"""

from __future__ import annotations

import os
import random
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator, List, Optional, Set, Tuple
from urllib.parse import parse_qs, unquote, urlsplit

from ..errors import BackendUnavailable, BadRequest
from ..wire.postgres import Address, Connection, ServerError
from .interface import Conflict, Record, Records, T, value_of, value_text

TABLE = "filestoraged_records"
SEQUENCE = "filestoraged_versions"
POOL = 8  # connections a process keeps at most
POOL_WAIT = 30.0  # seconds a request waits for one of them before its 503
STATEMENT_TIMEOUT = "10s"  # the longest any statement may run: a stuck database is a 503, not a hung request
CLOCK_EVERY = 300.0  # seconds between two readings of the database's clock
TLS_MODES = ("disable", "prefer", "require", "verify-full")
_SCHEMA = ('CREATE TABLE IF NOT EXISTS %s (key TEXT COLLATE "C" PRIMARY KEY, value TEXT NOT NULL, '
           'version BIGINT NOT NULL)' % TABLE, "CREATE SEQUENCE IF NOT EXISTS %s" % SEQUENCE)
_RACED = ("23505", "42P07")  # two daemons making the table at once: one wins, the other finds it made
_TRY_AGAIN = ("40001", "40P01")  # a serialization failure, a deadlock: the transaction may simply run again
SERIAL_TRIES = 32  # runs of a serialized transaction before its 503


def address_of(url: str, environ=os.environ) -> Address:
    """The database ``--records`` names (``BadRequest`` naming the fault)."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise BadRequest("--records takes local, s3 or postgresql://USER@HOST[:PORT]/DATABASE")
    if parts.password is not None:
        raise BadRequest("--records: put the database's password in a file (passfile=) or PGPASSWORD, not in the "
                         "address (logs print it)")
    query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
    unknown = sorted(set(query) - {"tls", "ca", "passfile"})
    if unknown:
        raise BadRequest("--records: %s is not a setting here (tls, ca, passfile)" % unknown[0])
    tls = query.get("tls", "prefer")
    if tls not in TLS_MODES:
        raise BadRequest("--records: tls is one of %s" % ", ".join(TLS_MODES))
    database = unquote(parts.path.lstrip("/"))
    if not parts.hostname or not parts.username or not database:
        raise BadRequest("--records: postgresql://USER@HOST[:PORT]/DATABASE names a user, a host and a database")
    password = environ.get("PGPASSWORD")
    if "passfile" in query:
        try:
            with open(query["passfile"], encoding="utf-8") as handle:
                password = handle.read().rstrip("\r\n")
        except OSError as error:
            raise BadRequest("--records: the passfile %s cannot be read: %s" % (query["passfile"], error.strerror)
                             ) from None
    return Address(parts.hostname, parts.port or 5432, database, unquote(parts.username), password, tls,
                   query.get("ca"), "-c statement_timeout=%s" % STATEMENT_TIMEOUT)


def shown(url: str) -> str:
    """The address as logs and pages show it (it holds no password: ``address_of``)."""
    return url.split("?", 1)[0]


class PostgresRecords(Records):
    def __init__(self, address: Address, clock: Callable[[], float] = time.time) -> None:
        self.address = address
        self.clock = clock
        self._idle: List[Connection] = []
        self._open = 0
        self._lock = threading.Condition()
        self._batch = threading.local()
        self._offset, self._offset_at = 0.0, float("-inf")
        with self._connection() as connection:
            for statement in _SCHEMA:
                try:
                    connection.query(statement)
                except ServerError as error:
                    if error.code not in _RACED:
                        raise BackendUnavailable("the records' database %s refused to make the records' table: "
                                                 "%s" % (address.database, error.message)) from None

    # -- the clock every daemon agrees on ------------------------------------------------

    def now(self) -> float:
        """This machine's clock (``clock``) set by the database's: the skew
        between the two is read every ``CLOCK_EVERY`` seconds, against the
        machine's own time."""
        real = time.time()
        if real - self._offset_at >= CLOCK_EVERY:
            self._offset_at = real
            try:
                rows = self._one("SELECT extract(epoch FROM clock_timestamp())::text")
                self._offset = float(rows[0][0]) - (real + time.time()) / 2
            except BackendUnavailable:
                pass  # the last offset stands; the database's absence shows in the operation itself
        return self.clock() + self._offset

    # -- the records interface -----------------------------------------------------------

    def check(self) -> None:
        self._one("SELECT 1")

    def get(self, key: str) -> Optional[Record]:
        rows = self._one("SELECT value, version FROM %s WHERE key = $1" % TABLE, key)
        return None if not rows else Record(value_of(rows[0][0]), rows[0][1])

    def create(self, key: str, value: dict) -> str:
        rows = self._one("INSERT INTO %s VALUES ($1, $2, nextval('%s')) ON CONFLICT (key) DO NOTHING "
                         "RETURNING version" % (TABLE, SEQUENCE), key, value_text(value))
        if not rows:
            raise Conflict("the record %s exists" % key)
        return rows[0][0]

    def replace(self, key: str, value: dict, version: str) -> str:
        rows = self._one("UPDATE %s SET value = $2, version = nextval('%s') WHERE key = $1 AND version = $3 "
                         "RETURNING version" % (TABLE, SEQUENCE), key, value_text(value), _version(version))
        if not rows:
            raise Conflict("the record %s changed" % key)
        return rows[0][0]

    def delete(self, key: str, version: Optional[str] = None) -> bool:
        if version is None:
            return bool(self._one("DELETE FROM %s WHERE key = $1 RETURNING 1" % TABLE, key))
        if self._one("DELETE FROM %s WHERE key = $1 AND version = $2 RETURNING 1" % TABLE, key, _version(version)):
            return True
        raise Conflict("the record %s changed" % key)

    def update(self, key: str, change: Callable[[Optional[dict]], Optional[dict]]) -> Optional[dict]:
        """``Records.update`` as one transaction that locks the row (or, for
        a record not there yet, makes it if nobody did meanwhile): racing
        writers wait their turn instead of retrying. ``change`` must not
        use these records itself."""
        alone = getattr(self._batch, "connection", None) is None  # not a step of the caller's transaction
        for _ in range(16):
            try:
                with self.batch():
                    connection = self._batch.connection
                    rows = connection.query("SELECT value FROM %s WHERE key = $1 FOR UPDATE" % TABLE, (key,)).rows
                    new = change(None if not rows else value_of(rows[0][0]))
                    if new is None:
                        return None
                    if rows:
                        connection.query("UPDATE %s SET value = $2, version = nextval('%s') WHERE key = $1"
                                         % (TABLE, SEQUENCE), (key, value_text(new)))
                        return new
                    if connection.query("INSERT INTO %s VALUES ($1, $2, nextval('%s')) ON CONFLICT (key) DO "
                                        "NOTHING RETURNING 1" % (TABLE, SEQUENCE), (key, value_text(new))).rows:
                        return new
                # made by another meanwhile: read again, locked this time
            except ServerError as error:
                if not (alone and error.code in _TRY_AGAIN):  # (its own transaction, rolled back: run again)
                    raise _unavailable(error) from None  # (in the caller's: the caller runs it again)
        raise BackendUnavailable("the record %s is changed by too many at once; retry" % key)

    serializes = True

    def serialized(self, block: Callable[[], T]) -> T:
        if getattr(self._batch, "connection", None) is not None:
            return block()  # a step of the caller's transaction, at the caller's isolation
        for attempt in range(SERIAL_TRIES):
            try:
                with self.batch("BEGIN ISOLATION LEVEL SERIALIZABLE"):
                    return block()
            except TryAgain:
                time.sleep(random.uniform(0, 0.002 * 2 ** min(attempt, 6)))  # others are writing: back off
        raise BackendUnavailable("the records' database could not serialize a change in %d tries; retry"
                                 % SERIAL_TRIES)

    @contextmanager
    def batch(self, begin: str = "BEGIN") -> Iterator[None]:
        """One transaction for the block (nested blocks join it); rolled
        back if the block raises."""
        if getattr(self._batch, "connection", None) is not None:
            yield
            return
        with self._connection() as connection:
            connection.run(begin)
            self._batch.connection = connection
            try:
                yield
            except BaseException:
                self._batch.connection = None
                if connection.status != b"I":
                    try:
                        connection.run("ROLLBACK")
                    except (BackendUnavailable, ServerError):
                        pass  # lost: the server rolls it back itself (and the connection is closed)
                raise
            self._batch.connection = None
            self._checked(connection, "COMMIT", ())

    def keys(self, prefix: str, after: str = "", limit: Optional[int] = None) -> Iterator[str]:
        return iter([row[0] for row in self._page("key", prefix, after, limit)])

    def items(self, prefix: str, after: str = "", limit: Optional[int] = None) -> Iterator[Tuple[str, Record]]:
        rows = self._page("key, value, version", prefix, after, limit)
        return iter([(key, Record(value_of(value), version)) for key, value, version in rows])

    def present(self, keys: List[str]) -> Set[str]:
        """Which of ``keys`` have a record: one statement for them all (a
        move's check of what it wrote)."""
        if not keys:
            return set()
        array = "{%s}" % ",".join('"%s"' % key.replace("\\", "\\\\").replace('"', '\\"') for key in keys)
        return {row[0] for row in self._one("SELECT key FROM %s WHERE key = ANY($1::text[])" % TABLE, array)}

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
            self._open -= len(idle)
        for connection in idle:
            connection.close()

    # -- connections ---------------------------------------------------------------------

    def _page(self, columns: str, prefix: str, after: str, limit: Optional[int]) -> list:
        if limit == 0:
            return []
        lower, bound = (after, ">") if after >= prefix else (prefix, ">=")
        return self._one("SELECT %s FROM %s WHERE key %s $1 AND key < $2 ORDER BY key%s"
                         % (columns, TABLE, bound, "" if limit is None else " LIMIT %d" % int(limit)),
                         lower, prefix + "\uffff")

    def _one(self, sql: str, *parameters: str) -> list:
        """One statement: in the thread's batch if it is in one, else on a
        connection of the pool, alone."""
        connection = getattr(self._batch, "connection", None)
        if connection is not None:
            return self._checked(connection, sql, parameters)
        with self._connection() as connection:
            return self._checked(connection, sql, parameters)

    def _checked(self, connection: Connection, sql: str, parameters) -> list:
        try:
            return connection.query(sql, parameters).rows
        except ServerError as error:
            raise _unavailable(error) from None

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        """A connection of the pool for the block (a new one while fewer
        than ``POOL`` are open; else the next one given back); one the
        block lost is closed, not given back."""
        with self._lock:
            if not self._lock.wait_for(lambda: self._idle or self._open < POOL, POOL_WAIT):
                raise BackendUnavailable("every connection to the records' database is busy; retry")
            connection = self._idle.pop() if self._idle else None
            if connection is None:
                self._open += 1
        if connection is not None and connection.spoke_while_idle():
            # The database ended it while it sat idle (it restarted): a new
            # one takes its place, where trying it would cost a 503.
            connection.close()
            connection = None
        try:
            if connection is None:
                connection = Connection(self.address)
            yield connection
        except BaseException as error:
            # Lost, or left inside a transaction: closed. A statement the
            # server refused leaves the connection ready for the next.
            lost = isinstance(error, BackendUnavailable) and not isinstance(error, TryAgain)
            self._give_back(connection, connection is None or lost or connection.status != b"I")
            raise
        self._give_back(connection, connection.status != b"I")

    def _give_back(self, connection: Optional[Connection], broken: bool) -> None:
        with self._lock:
            if connection is None or broken:
                self._open -= 1
            else:
                self._idle.append(connection)
            self._lock.notify()
        if connection is not None and broken:
            connection.close()


class TryAgain(BackendUnavailable):
    """A serialization failure or a deadlock: the transaction was rolled
    back, and may simply run again (``serialized`` does; elsewhere a 503)."""


def _unavailable(error: ServerError) -> Exception:
    """What a statement the database refused raises: a 503 where running it
    again may succeed (a deadlock, a serialization failure, a statement
    that timed out), else the refusal itself (a bug, not the client's)."""
    if error.code in _TRY_AGAIN:
        return TryAgain("the records' database: %s; retry" % error.message)
    if error.code == "57014":  # the statement timed out
        return BackendUnavailable("the records' database: %s; retry" % error.message)
    return error


def _version(version: str) -> str:
    """A version as the table keeps it (one another store gave, or none: no record is at it)."""
    return version if version.isdigit() and len(version) < 19 else "-1"
