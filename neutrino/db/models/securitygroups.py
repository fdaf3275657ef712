"""Security groups, their rules, and each project's default group.

Port membership lives in ``securitygroupportbindings`` (created with the L2
core, see ``l2.PortSecurityGroupBinding``); the group's existence is checked
by the plugin, since that table predates this one.
"""
import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from neutrino.db.models.base import Base, StandardAttrs, new_id, utcnow


class SecurityGroup(StandardAttrs, Base):
    __tablename__ = "securitygroups"

    stateful: Mapped[bool] = mapped_column(Boolean, default=True)

    rules: Mapped[list["SecurityGroupRule"]] = relationship(
        back_populates="security_group", foreign_keys="SecurityGroupRule.security_group_id",
        order_by="SecurityGroupRule.created_at, SecurityGroupRule.id",
        cascade="all, delete-orphan", passive_deletes=True)


class SecurityGroupRule(Base):
    """One rule; protocol is kept as the API normalised it (a name or a number string)."""
    __tablename__ = "securitygrouprules"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(255), index=True, default="")
    security_group_id: Mapped[str] = mapped_column(
        ForeignKey("securitygroups.id", ondelete="CASCADE"), index=True)
    remote_group_id: Mapped[str | None] = mapped_column(
        ForeignKey("securitygroups.id", ondelete="CASCADE"), nullable=True, index=True)
    direction: Mapped[str] = mapped_column(String(16))
    ethertype: Mapped[str] = mapped_column(String(40))
    protocol: Mapped[str | None] = mapped_column(String(40), nullable=True)
    port_range_min: Mapped[int | None] = mapped_column(Integer, nullable=True)
    port_range_max: Mapped[int | None] = mapped_column(Integer, nullable=True)
    remote_ip_prefix: Mapped[str | None] = mapped_column(String(255), nullable=True)
    description: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    revision_number: Mapped[int] = mapped_column(Integer, default=0)

    security_group: Mapped[SecurityGroup] = relationship(
        back_populates="rules", foreign_keys=[security_group_id])

    def bump_revision(self) -> None:
        self.revision_number = (self.revision_number or 0) + 1
        self.updated_at = utcnow()


class DefaultSecurityGroup(Base):
    """The project's ``default`` group; the primary key makes lazy creation race-safe."""
    __tablename__ = "default_security_group"

    project_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    security_group_id: Mapped[str] = mapped_column(
        ForeignKey("securitygroups.id", ondelete="CASCADE"), unique=True)
