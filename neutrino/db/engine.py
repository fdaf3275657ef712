"""Engines and sessions for any SQLAlchemy URL; SQLite gets WAL and foreign keys."""
import threading
from contextlib import contextmanager

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
        self._write_lock = threading.Lock() if self.is_sqlite else None

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
        with self._write_lock:
            with self.sessions() as session, session.begin():
                yield session

    def dispose(self) -> None:
        self.engine.dispose()


def session_of(obj) -> Session:
    return Session.object_session(obj)
