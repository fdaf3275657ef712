"""Where a lab's things live: names, addresses, paths (pure, no side effects).

Lab ``L`` (default name ``default``):

* state directory ``/var/lib/neutrino/labs/L`` (or ``--state-dir``; then
  ``/var/lib/neutrino/labs/L`` is a symlink to it so ``--name L`` finds it),
  a tmpfs when ``lab up`` makes it (``lifecycle._state_in_memory``);
* network namespaces ``nlab-L-<node>`` (nodes ``controller``, ``compute01``..),
  ``nlab-L-underlay`` (the Linux bridge ``underlay`` joining the nodes),
  ``nlab-L-vm-<instance>`` for instances, ``nlab-L-upstream`` (issue 4);
* underlay 10.168.7.0/24: controller .10, computeNN .(10+NN), held by the
  OVS internal port ``br-phy`` on each node (its NIC ``eth1`` is a port of
  ``br-phy``; the other end of the veth is ``<node>`` on the underlay bridge).
"""
from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass

from neutrino.errors import NeutrinoError

LABS_DIR = "/var/lib/neutrino/labs"
STATE_TMPFS = "neutrino-lab"
"""The source name of the tmpfs a lab mounts on the state directory it makes."""
DEFAULT_LAB = "default"
DEFAULT_PORT = 9696
DEFAULT_IDENTITY_PORT = 5000
PREFIX = "nlab"
UNDERLAY_CIDR = ipaddress.ip_network("10.168.7.0/24")
CONTROLLER_HOST_NUMBER = 10
UNDERLAY_NETNS = "underlay"
UNDERLAY_BRIDGE = "underlay"
TUNNEL_BRIDGE = "br-phy"
TUNNEL_NIC = "eth1"
EXTERNAL_BRIDGE = "br-ex"
EXTERNAL_PHYSNET = "extnet"
MAX_COMPUTES = 99
ENV_TAG = "NEUTRINO_LAB_STATE"

_LAB_NAME = re.compile(r"^[a-z0-9]{1,12}$")
_INSTANCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")


def check_lab_name(name: str) -> str:
    if not _LAB_NAME.match(name or ""):
        raise NeutrinoError(f"bad lab name {name!r}: 1 to 12 lower-case letters or digits")
    return name


def check_instance_name(name: str) -> str:
    if not _INSTANCE_NAME.match(name or ""):
        raise NeutrinoError(f"bad instance name {name!r}: "
                            "up to 32 letters, digits, '_', '-' or '.'")
    return name


def compute_name(n: int) -> str:
    return f"compute{n:02d}"


def node_names(computes: int) -> list[str]:
    if not 0 <= computes <= MAX_COMPUTES:
        raise NeutrinoError(f"--computes must be between 0 and {MAX_COMPUTES}")
    return ["controller", *(compute_name(i) for i in range(1, computes + 1))]


def tunnel_ip(node: str) -> str:
    """Underlay address of ``node``: controller .10, computeNN .10+NN."""
    if node == "controller":
        number = CONTROLLER_HOST_NUMBER
    else:
        match = re.fullmatch(r"compute(\d+)", node)
        if not match:
            raise NeutrinoError(f"no such lab node {node!r}")
        number = CONTROLLER_HOST_NUMBER + int(match.group(1))
    return str(UNDERLAY_CIDR.network_address + number)


@dataclass(frozen=True)
class Lab:
    name: str
    state_dir: str

    @classmethod
    def locate(cls, name: str | None = None, state_dir: str | None = None) -> "Lab":
        """The lab called ``name`` (default lab when None), at ``state_dir`` if given."""
        name = check_lab_name(name or DEFAULT_LAB)
        if state_dir:
            return cls(name, os.path.abspath(state_dir))
        return cls(name, os.path.realpath(os.path.join(LABS_DIR, name)))

    @property
    def registry_link(self) -> str:
        return os.path.join(LABS_DIR, self.name)

    @property
    def is_default(self) -> bool:
        return self.name == DEFAULT_LAB

    def path(self, *parts: str) -> str:
        return os.path.join(self.state_dir, *parts)

    @property
    def env_tag(self) -> str:
        """``KEY=value`` put in the environment of every process the lab starts."""
        return f"{ENV_TAG}={self.state_dir}"

    # namespaces ---------------------------------------------------------------
    @property
    def netns_prefix(self) -> str:
        return f"{PREFIX}-{self.name}-"

    def netns(self, node: str) -> str:
        return f"{self.netns_prefix}{node}"

    @property
    def underlay_netns(self) -> str:
        return self.netns(UNDERLAY_NETNS)

    def instance_netns(self, instance: str) -> str:
        return self.netns(f"vm-{instance}")

    # per-node paths -------------------------------------------------------------
    def node_dir(self, node: str, *parts: str) -> str:
        return self.path("nodes", node, *parts)

    def mnt_file(self, node: str) -> str:
        return self.path("ns", f"{node}.mnt")

    def ovs_rundir(self, node: str) -> str:
        return self.node_dir(node, "ovs-run")

    # services -------------------------------------------------------------------
    @property
    def redis_sock(self) -> str:
        return self.path("redis.sock")

    @property
    def transport_url(self) -> str:
        return f"redis+socket://{self.redis_sock}"

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.path('neutrino.db')}"

    @property
    def clouds_yaml(self) -> str:
        return self.path("clouds.yaml")

    @property
    def status_file(self) -> str:
        return self.path("lab.json")

    # accounts (mode 0700 directory, 0600 files) -----------------------------------
    @property
    def auth_dir(self) -> str:
        return self.path("auth")

    @property
    def passwords_file(self) -> str:
        return self.path("auth", "passwords.json")

    def token_file(self, user: str) -> str:
        return self.path("auth", f"token-{user}.json")


def lab_name_of_netns(netns_name: str) -> str | None:
    """The lab a namespace belongs to, from its name (``nlab-L-...``)."""
    parts = netns_name.split("-", 2)
    if len(parts) == 3 and parts[0] == PREFIX and _LAB_NAME.match(parts[1]):
        return parts[1]
    return None
