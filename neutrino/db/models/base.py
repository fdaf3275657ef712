"""Declarative base and the standard attributes every API resource carries.

Neutron keeps id, name, description, project, timestamps, revision and tags on
most resources; ``StandardAttrs`` gives a model all of them in one line, so new
resources (routers, floating IPs, security groups) get the same behaviour.
"""
import datetime
import uuid

from sqlalchemy import JSON, DateTime, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime.datetime:
    """Naive UTC time: what every timestamp column stores."""
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def new_id() -> str:
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    pass


class StandardAttrs:
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str] = mapped_column(String(255), default="")
    project_id: Mapped[str] = mapped_column(String(255), index=True, default="")
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    revision_number: Mapped[int] = mapped_column(Integer, default=0)
    tags: Mapped[list] = mapped_column(JSON, default=list)

    def bump_revision(self) -> None:
        """Mark an update: Neutron bumps the revision on every change."""
        self.revision_number = (self.revision_number or 0) + 1
        self.updated_at = utcnow()
