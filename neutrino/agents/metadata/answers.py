"""What an instance gets at each metadata path, from the port that asked.

``Instance`` is what ``get_ports_for_metadata`` tells about the asking port,
plus its fixed and floating address. ``answer`` maps a path to a status,
content type and body; everything it does not know is 404.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

EC2_VERSION = re.compile(r"^(latest|\d{4}-\d{2}-\d{2})$")
OPENSTACK_VERSION = re.compile(r"^(latest|\d{4}-\d{2}-\d{2})$")
TEXT = "text/plain; charset=UTF-8"
JSON = "application/json"


@dataclass(frozen=True)
class Instance:
    port_id: str
    device_id: str
    project_id: str
    network_id: str
    name: str
    local_ipv4: str
    public_ipv4: str | None = None

    @property
    def hostname(self) -> str:
        """Nova's rule: the display name made a valid host name."""
        host = re.sub(r"[^a-z0-9-]+", "-", (self.name or "").lower()).strip("-")
        return host[:63] or f"host-{self.local_ipv4.replace('.', '-')}"


def _ec2(instance: Instance) -> dict[str, str]:
    items = {"instance-id": instance.device_id, "hostname": instance.hostname,
             "local-hostname": instance.hostname, "local-ipv4": instance.local_ipv4}
    if instance.public_ipv4:
        items["public-ipv4"] = instance.public_ipv4
        items["public-hostname"] = instance.public_ipv4
    return items


def meta_data_json(instance: Instance) -> dict:
    return {"uuid": instance.device_id, "name": instance.name, "hostname": instance.hostname,
            "project_id": instance.project_id, "availability_zone": "nova",
            "launch_index": 0, "meta": {}, "public_keys": {}, "devices": []}


def needs_public_ipv4(path: str) -> bool:
    """Whether answering ``path`` involves the floating IP (a lookup of its own)."""
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    return len(parts) >= 2 and parts[1] == "meta-data" and \
        (len(parts) == 2 or parts[2].startswith("public"))


def answer(path: str, instance: Instance) -> tuple[int, str, bytes]:
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    if not parts:
        return 200, TEXT, b"latest\nopenstack\n"
    if parts[0] == "openstack":
        if len(parts) == 1:
            return 200, TEXT, b"latest\n"
        if not OPENSTACK_VERSION.match(parts[1]):
            return _not_found()
        if len(parts) == 2:
            return 200, TEXT, b"meta_data.json\n"
        if parts[2:] == ["meta_data.json"]:
            return 200, JSON, json.dumps(meta_data_json(instance)).encode()
        return _not_found()
    if not EC2_VERSION.match(parts[0]):
        return _not_found()
    if len(parts) == 1:
        return 200, TEXT, b"meta-data/\n"
    if parts[1] != "meta-data":
        return _not_found()
    items = _ec2(instance)
    if len(parts) == 2:
        return 200, TEXT, "\n".join(items).encode()
    if len(parts) == 3 and parts[2] in items:
        return 200, TEXT, items[parts[2]].encode()
    return _not_found()


def _not_found() -> tuple[int, str, bytes]:
    return 404, TEXT, b"404 Not Found\n"
