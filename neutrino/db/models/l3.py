"""Routers, their ports, their L3 agent, and floating IPs (Neutron's l3 tables)."""
from sqlalchemy import (JSON, Boolean, ForeignKey, String,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from neutrino.db.models.base import Base, StandardAttrs


class Router(StandardAttrs, Base):
    __tablename__ = "routers"

    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    gw_port_id: Mapped[str | None] = mapped_column(ForeignKey("ports.id"), nullable=True)
    enable_snat: Mapped[bool] = mapped_column(Boolean, default=True)
    routes: Mapped[list] = mapped_column(JSON, default=list)
    """Extra routes [{destination, nexthop}] in the order they were given."""

    attached_ports: Mapped[list["RouterPort"]] = relationship(
        order_by="RouterPort.port_id", cascade="all, delete-orphan", passive_deletes=True)


class RouterPort(Base):
    """A port that belongs to a router (interface or gateway) and its role."""
    __tablename__ = "routerports"

    router_id: Mapped[str] = mapped_column(
        ForeignKey("routers.id", ondelete="CASCADE"), primary_key=True)
    port_id: Mapped[str] = mapped_column(
        ForeignKey("ports.id", ondelete="CASCADE"), primary_key=True, unique=True)
    port_type: Mapped[str] = mapped_column(String(255))


class RouterL3AgentBinding(Base):
    """Which L3 agent host hosts a router (the scheduler's answer)."""
    __tablename__ = "routerl3agentbindings"

    router_id: Mapped[str] = mapped_column(
        ForeignKey("routers.id", ondelete="CASCADE"), primary_key=True)
    host: Mapped[str] = mapped_column(String(255), index=True)


class FloatingIP(StandardAttrs, Base):
    """A floating IP: an address of an external network, NATed to a fixed IP.

    (floating_network_id, fixed_port_id, fixed_ip_address) is unique: one
    floating IP per fixed IP and external network, as in Neutron.
    """
    __tablename__ = "floatingips"
    __table_args__ = (UniqueConstraint(
        "floating_network_id", "fixed_port_id", "fixed_ip_address",
        name="uniq_floatingips0floatingnetworkid0fixedportid0fixedipaddress"),)

    floating_ip_address: Mapped[str] = mapped_column(String(64))
    floating_network_id: Mapped[str] = mapped_column(ForeignKey("networks.id"), index=True)
    floating_port_id: Mapped[str] = mapped_column(ForeignKey("ports.id"), unique=True)
    fixed_port_id: Mapped[str | None] = mapped_column(ForeignKey("ports.id"), nullable=True,
                                                      index=True)
    fixed_ip_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    router_id: Mapped[str | None] = mapped_column(ForeignKey("routers.id"), nullable=True,
                                                  index=True)
    last_known_router_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="DOWN")
