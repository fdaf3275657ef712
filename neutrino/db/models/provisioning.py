"""Provisioning blocks: what a port still waits for before it may turn ACTIVE.

As Neutron's ``provisioningblocks`` table: one row per (object, entity), the
entity being ``DHCP`` (the DHCP agent has not served the port's address yet)
or ``L2`` (the L2 agent has not reported the port wired yet). Neutron keys the
rows by the standard-attributes id of any resource; only ports have blocks
here, so the rows name the port and go with it.
"""
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from neutrino.db.models.base import Base


class ProvisioningBlock(Base):
    __tablename__ = "provisioningblocks"

    port_id: Mapped[str] = mapped_column(
        ForeignKey("ports.id", ondelete="CASCADE"), primary_key=True)
    entity: Mapped[str] = mapped_column(String(255), primary_key=True)
