"""Engines and sessions for any SQLAlchemy URL; SQLite gets WAL and foreign keys."""
import functools
import threading
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from neutrino.errors import NeutrinoError


def make_engine(url: str) -> Engine:
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"check_same_thread": False,
                                                      "timeout": 30},
                                   pool_size=20, max_overflow=60)
            event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        return create_engine(url, pool_size=10, max_overflow=40, pool_pre_ping=True)
    except (ArgumentError, ImportError) as exc:
        raise NeutrinoError(f"bad database URL {url!r}: {exc}") from None


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


class Database:
    """Sessions plus the write discipline of the backend.

    SQLite allows one writer at a time, so writes are serialized in-process by
    a lock; other backends rely on row locks (``SELECT ... FOR UPDATE``) taken
    by the code that allocates.
    """

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_lock = WriteLock() if self.is_sqlite else None

    @contextmanager
    def reader(self):
        with self.sessions() as session:
            yield session

    @contextmanager
    def writer(self):
        """One transaction: committed on success, rolled back on any exception."""
        if self._write_lock is None:
            with self.sessions() as session, session.begin():
                yield session
            return
        self._write_lock.acquire(_urgent.get())
        try:
            with self.sessions() as session, session.begin():
                yield session
        finally:
            self._write_lock.release()

    def dispose(self) -> None:
        self.engine.dispose()


_urgent: ContextVar[bool] = ContextVar("urgent_writes", default=False)


class WriteLock:
    """SQLite's one writer, in this process: writers get it in the order they
    asked, except that a waiting urgent writer goes first.

    The agents' calls are urgent (see ``Urgent``): a port the L2 agent wired
    should not turn ACTIVE only after a burst of API creates queued behind
    it (20 boots at once: a status report waited for up to 20 creates, and
    those were taken in no order). Real Neutron serves its agents from
    separate RPC workers for the same reason.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._held = False
        self._waiting = ([], [])          # (ordinary, urgent) waiters, oldest first

    def acquire(self, urgent: bool = False) -> None:
        with self._lock:
            if not self._held:
                self._held = True
                return
            turn = threading.Lock()
            turn.acquire()
            self._waiting[urgent].append(turn)
        turn.acquire()                    # released by the writer handing over

    def release(self) -> None:
        with self._lock:
            queue = self._waiting[1] or self._waiting[0]
            if queue:
                queue.pop(0).release()    # handed over: still held
            else:
                self._held = False


class Urgent:
    """Wraps an object (an RPC endpoint) so that every write its methods make
    goes before the ordinary writes waiting for SQLite's writer."""

    def __init__(self, target):
        self._target = target

    def __getattr__(self, name: str):
        value = getattr(self._target, name)
        if name.startswith("_") or not callable(value):
            return value

        @functools.wraps(value)
        def call(*args, **kwargs):
            token = _urgent.set(True)
            try:
                return value(*args, **kwargs)
            finally:
                _urgent.reset(token)
        return call


def session_of(obj) -> Session:
    return Session.object_session(obj)
