"""``lab.json``: what ``lab up`` recorded about a lab (nodes, ports, endpoints).

Its own small module so that the API client can find a lab's endpoints
without importing the lifecycle (namespaces, OVS, processes).
"""
from __future__ import annotations

import json
import os

from neutrino.errors import NeutrinoError
from neutrino.lab.layout import Lab


def read_info(lab: Lab) -> dict:
    try:
        with open(lab.status_file) as f:
            return json.load(f)
    except (FileNotFoundError, ValueError):
        return {}


def write_info(lab: Lab, info: dict) -> None:
    tmp = lab.status_file + ".tmp"
    with open(tmp, "w") as f:
        json.dump(info, f, indent=1, sort_keys=True)
    os.replace(tmp, lab.status_file)


def running_info(lab: Lab) -> dict:
    info = read_info(lab)
    if not info.get("port"):
        raise NeutrinoError(f"lab {lab.name} is not up (no {lab.status_file})")
    return info


def endpoint(lab: Lab) -> str:
    """The Networking API's root, ``http://127.0.0.1:PORT``."""
    return f"http://127.0.0.1:{running_info(lab)['port']}"


def identity_url(lab: Lab) -> str:
    """The lab's Keystone, ``http://127.0.0.1:PORT/v3`` (the clients' auth_url)."""
    info = running_info(lab)
    if not info.get("identity_port"):
        raise NeutrinoError(f"lab {lab.name} has no identity service: run `neutrino lab up`"
                            + ("" if lab.is_default else f" --name {lab.name}"))
    return identity_url_of(info["identity_port"])


def identity_url_of(port: int) -> str:
    return f"http://127.0.0.1:{port}/v3"
