"""One API request's write transaction, its retries and its deferred notifications."""
import logging
from contextvars import ContextVar
from typing import Callable

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from neutrino.db.engine import Database
from neutrino.server import exceptions as exc

LOG = logging.getLogger(__name__)

MAX_ATTEMPTS = 12
RETRYABLE_ERRORS = {"DeadlockDetected", "SerializationFailure", "LockNotAvailable"}

_answer_views: ContextVar[dict | None] = ContextVar("answer_views", default=None)
"""Views built while a transaction builds its answer and notification payloads."""


def shared_view(obj, build: Callable[[object], dict]) -> dict:
    """``build(obj)``, built once per object while a write builds its answer and payloads.

    That phase starts after the transaction's last flush, so the rows no longer
    change: the answer and the notifications about one port (port_update,
    port_update_end) can share one dict. Outside it this is just ``build(obj)``.
    Receivers must not mutate the dict (the notifier encodes it at once).
    """
    views = _answer_views.get()
    if views is None:
        return build(obj)
    key = (id(obj), build)
    if key not in views:
        views[key] = (obj, build(obj))   # obj held so that its id is not reused
    return views[key][1]


class Tx:
    """The session of the transaction plus notifications to send once it commits.

    A payload may be a callable: it is evaluated at the end of the transaction,
    after the final flush, so it sees ids, timestamps and revision numbers.
    """

    def __init__(self, session: Session):
        self.session = session
        self._pending: list[tuple[str, str, dict | Callable[[], dict]]] = []

    def notify(self, topic: str, event: str, payload) -> None:
        self._pending.append((topic, event, payload))

    def resolve(self) -> list[tuple[str, str, dict]]:
        return [(t, e, p() if callable(p) else p) for t, e, p in self._pending]


def _retryable(error: Exception) -> bool:
    if isinstance(error, IntegrityError):
        return True
    if isinstance(error, OperationalError):
        name = type(getattr(error, "orig", None)).__name__
        return name in RETRYABLE_ERRORS or "database is locked" in str(error)
    return False


def run_write(db: Database, notifier, work: Callable[[Tx], object]):
    """Run ``work(tx)`` in one transaction, retrying races; notify after commit.

    ``work`` returns a callable or a value; a callable is evaluated inside the
    transaction after the last flush (to build the response from live rows).
    A uniqueness race (two requests taking the same IP, MAC or VNI) makes the
    loser's transaction fail on a constraint; it is simply run again and then
    sees the winner's row.
    """
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            with db.writer() as session:
                tx = Tx(session)
                result = work(tx)
                session.flush()
                token = _answer_views.set({})
                try:
                    if callable(result):
                        result = result()
                    notifications = tx.resolve()
                finally:
                    _answer_views.reset(token)
            break
        except (IntegrityError, OperationalError) as error:
            if not _retryable(error) or attempt == MAX_ATTEMPTS:
                LOG.warning("giving up after %d attempts: %s", attempt, error)
                raise exc.Conflict("The request conflicted with a concurrent change; "
                                   "please retry.") from error
    for topic, event, payload in notifications:
        try:
            notifier.notify(topic, event, payload)
        except Exception:  # a lost notification is repaired by the agents' resync
            LOG.exception("notification %s %s failed", topic, event)
    return result
