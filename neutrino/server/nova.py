"""The events Neutron sends Nova about its instances' ports (neutron/notifiers/nova.py).

There is no Nova here: each event goes out as a fanout notification on topic
``nova`` whose event name is the Nova event name and whose payload is the event
dict Nova's ``os-server-external-events`` takes. Only ports of Nova instances
count: device_owner ``compute:*`` and a UUID for device_id.
"""
import uuid

NOVA = "nova"
VIF_PLUGGED = "network-vif-plugged"
VIF_UNPLUGGED = "network-vif-unplugged"
VIF_DELETED = "network-vif-deleted"

_EVENT_STATUS = {"ACTIVE": "completed", "DOWN": "completed", "ERROR": "failed"}
_PLUGGED_FROM = (None, "DOWN", "BUILD")
"""Statuses a port leaves when its VIF becomes plugged (None: a new port)."""


def is_compute_port(device_owner: str, device_id: str) -> bool:
    if not device_id or not (device_owner or "").startswith("compute:"):
        return False
    try:
        uuid.UUID(device_id)
    except ValueError:
        return False
    return True


def status_event(port, old_status: str | None, new_status: str) -> dict | None:
    """The event for ``port`` (row or model) going from ``old_status`` to ``new_status``.

    Nova hears of a plug (DOWN/BUILD/new -> ACTIVE, or ERROR: "failed") and an
    unplug (ACTIVE -> DOWN); every other change is of no interest to it.
    """
    if not is_compute_port(port.device_owner, port.device_id):
        return None
    if old_status == "ACTIVE" and new_status == "DOWN":
        name = VIF_UNPLUGGED
    elif old_status in _PLUGGED_FROM and new_status in ("ACTIVE", "ERROR"):
        name = VIF_PLUGGED
    else:
        return None
    return {"name": name, "server_uuid": port.device_id, "tag": port.id,
            "status": _EVENT_STATUS[new_status]}


def delete_event(port) -> dict | None:
    """``network-vif-deleted`` for a deleted instance port (Nova's default status)."""
    if not is_compute_port(port.device_owner, port.device_id):
        return None
    return {"name": VIF_DELETED, "server_uuid": port.device_id, "tag": port.id,
            "status": "completed"}


def notify(tx, event: dict | None) -> None:
    """Send ``event`` once ``tx`` commits (nothing for None)."""
    if event is not None:
        tx.notify(NOVA, event["name"], event)
