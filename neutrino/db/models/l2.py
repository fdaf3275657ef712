"""Networks, subnets, ports and what they own (IP allocations, segment pools)."""
from sqlalchemy import (JSON, Boolean, ForeignKey, Integer, String,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from neutrino.db.models.base import Base, StandardAttrs


class Network(StandardAttrs, Base):
    __tablename__ = "networks"

    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    external: Mapped[bool] = mapped_column(Boolean, default=False)
    port_security_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    mtu: Mapped[int] = mapped_column(Integer)
    network_type: Mapped[str] = mapped_column(String(32))
    physical_network: Mapped[str | None] = mapped_column(String(64), nullable=True)
    segmentation_id: Mapped[int | None] = mapped_column(Integer, nullable=True)

    subnets: Mapped[list["Subnet"]] = relationship(
        back_populates="network", order_by="Subnet.created_at, Subnet.id",
        cascade="all, delete-orphan")


class Subnet(StandardAttrs, Base):
    __tablename__ = "subnets"

    network_id: Mapped[str] = mapped_column(
        ForeignKey("networks.id"), index=True)
    ip_version: Mapped[int] = mapped_column(Integer)
    cidr: Mapped[str] = mapped_column(String(64))
    gateway_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    allocation_pools: Mapped[list] = mapped_column(JSON, default=list)
    enable_dhcp: Mapped[bool] = mapped_column(Boolean, default=True)
    dns_nameservers: Mapped[list] = mapped_column(JSON, default=list)
    host_routes: Mapped[list] = mapped_column(JSON, default=list)
    ipv6_ra_mode: Mapped[str | None] = mapped_column(String(32), nullable=True)
    ipv6_address_mode: Mapped[str | None] = mapped_column(String(32), nullable=True)
    subnetpool_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    segment_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    service_types: Mapped[list] = mapped_column(JSON, default=list)

    network: Mapped[Network] = relationship(back_populates="subnets")


class Port(StandardAttrs, Base):
    __tablename__ = "ports"

    network_id: Mapped[str] = mapped_column(
        ForeignKey("networks.id"), index=True)
    mac_address: Mapped[str] = mapped_column(String(32), unique=True)
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="DOWN")
    device_id: Mapped[str] = mapped_column(String(255), default="", index=True)
    device_owner: Mapped[str] = mapped_column(String(255), default="")
    port_security_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    allowed_address_pairs: Mapped[list] = mapped_column(JSON, default=list)
    extra_dhcp_opts: Mapped[list] = mapped_column(JSON, default=list)
    binding_host_id: Mapped[str] = mapped_column(String(255), default="", index=True)
    binding_vif_type: Mapped[str] = mapped_column(String(64), default="unbound")
    binding_vif_details: Mapped[dict] = mapped_column(JSON, default=dict)
    binding_profile: Mapped[dict] = mapped_column(JSON, default=dict)
    binding_vnic_type: Mapped[str] = mapped_column(String(64), default="normal")

    fixed_ips: Mapped[list["IPAllocation"]] = relationship(
        order_by="IPAllocation.id", cascade="all, delete-orphan",
        passive_deletes=True)
    security_group_bindings: Mapped[list["PortSecurityGroupBinding"]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True)


class IPAllocation(Base):
    """One fixed IP of a port. (network, ip) is unique: the DB enforces what IPAM promises."""
    __tablename__ = "ipallocations"
    __table_args__ = (UniqueConstraint("network_id", "ip_address",
                                       name="uniq_ipallocations0network_id0ip_address"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    port_id: Mapped[str] = mapped_column(
        ForeignKey("ports.id", ondelete="CASCADE"), index=True)
    subnet_id: Mapped[str] = mapped_column(ForeignKey("subnets.id"), index=True)
    network_id: Mapped[str] = mapped_column(ForeignKey("networks.id"))
    ip_address: Mapped[str] = mapped_column(String(64))


class PortSecurityGroupBinding(Base):
    """Which security groups a port is in (the security group tables come later)."""
    __tablename__ = "securitygroupportbindings"

    port_id: Mapped[str] = mapped_column(
        ForeignKey("ports.id", ondelete="CASCADE"), primary_key=True)
    security_group_id: Mapped[str] = mapped_column(
        String(36), primary_key=True, index=True)


class VxlanAllocation(Base):
    """The VNI pool: one row per VNI of the configured ranges (Neutron's vni_ranges)."""
    __tablename__ = "vxlan_allocations"

    vxlan_vni: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    allocated: Mapped[bool] = mapped_column(Boolean, default=False, index=True)


class FlatAllocation(Base):
    """A physical network carries at most one flat network."""
    __tablename__ = "flat_allocations"

    physical_network: Mapped[str] = mapped_column(String(64), primary_key=True)
    network_id: Mapped[str] = mapped_column(
        ForeignKey("networks.id", ondelete="CASCADE"))
