"""ipset management: whole batches through ``ipset restore``.

A desired set is a name, a family (``inet``/``inet6``) and its members
(addresses or CIDRs). :meth:`IpsetManager.apply` reads ``ipset save`` once and
sends one ``ipset restore`` batch: missing sets are created with their
members, small changes (at most ``SWAP_THRESHOLD``) are applied with add/del,
bigger ones by filling a ``<name>-n`` set and swapping it in, so a rule that
matches the set never sees it half-filled. ``hash:net`` cannot hold a /0, so
it is stored as two /1s, as Neutron does.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Iterable

from neutrino.errors import NeutrinoError
from neutrino.linux import proc

SWAP_THRESHOLD = 5
SWAP_SUFFIX = "-n"
NAME_MAX_LEN = 31
SET_TYPE = "hash:net"

Runner = Callable[[list, "str | None"], str]


@dataclass
class IpSet:
    family: str
    members: set[str] = field(default_factory=set)


def family_of(ethertype_or_version) -> str:
    """``inet``/``inet6`` from ``IPv4``/``IPv6``, 4/6 or a family name."""
    value = str(ethertype_or_version).lower()
    if value in ("ipv4", "4", "inet"):
        return "inet"
    if value in ("ipv6", "6", "inet6"):
        return "inet6"
    raise NeutrinoError(f"unknown address family {ethertype_or_version!r}")


@lru_cache(maxsize=65536)
def _canonical(member: str) -> tuple[str, tuple[str, ...]]:
    try:
        net = ipaddress.ip_network(member.strip(), strict=False)
    except ValueError:
        raise NeutrinoError(f"not an IP address or CIDR: {member!r}") from None
    nets = list(net.subnets(new_prefix=1)) if net.prefixlen == 0 else [net]
    return (family_of(net.version),
            tuple(str(n.network_address) if n.prefixlen == n.max_prefixlen else str(n)
                  for n in nets))


def canonical_members(members: Iterable[str], family: str | None = None) -> set[str]:
    """Members as ipset prints them: network address, no /32 or /128, /0 split."""
    out: set[str] = set()
    for member in members:
        fam, entries = _canonical(str(member))
        if family is None or fam == family:
            out.update(entries)
    return out


def parse_save(text: str) -> dict[str, IpSet]:
    sets: dict[str, IpSet] = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 3 and words[0] == "create":
            family = words[words.index("family") + 1] if "family" in words else "inet"
            sets[words[1]] = IpSet(family)
        elif len(words) >= 3 and words[0] == "add" and words[1] in sets:
            sets[words[1]].members |= canonical_members([words[2]])
    return sets


class IpsetManager:
    """Keeps the ipsets of one network namespace (None = the current one)."""

    def __init__(self, netns: str | None = None, runner: Runner | None = None):
        self.netns = netns
        self._runner = runner or self._run

    def _run(self, cmd: list, input: str | None) -> str:
        return proc.run(cmd, netns=self.netns, input=input).out

    def list_sets(self) -> dict[str, IpSet]:
        return parse_save(self._runner(["ipset", "save"], None))

    def plan(self, desired: dict[str, IpSet], current: dict[str, IpSet]) -> list[str]:
        """The ``ipset restore`` lines that make ``desired`` sets real."""
        lines: list[str] = []
        for name, want in sorted(desired.items()):
            if len(name) + len(SWAP_SUFFIX) > NAME_MAX_LEN:
                raise NeutrinoError(f"ipset name too long: {name!r}")
            members = canonical_members(want.members, want.family)
            have = current.get(name)
            if have is None:
                lines.append(f"create {name} {SET_TYPE} family {want.family}")
                lines += [f"add {name} {m}" for m in sorted(members)]
                continue
            if have.family != want.family:
                raise NeutrinoError(f"ipset {name} is {have.family}, wanted {want.family}")
            added = members - have.members
            removed = have.members - members
            if len(added) + len(removed) <= SWAP_THRESHOLD:
                lines += [f"del {name} {m}" for m in sorted(removed)]
                lines += [f"add {name} {m}" for m in sorted(added)]
            else:
                swap = name + SWAP_SUFFIX
                lines += [f"create {swap} {SET_TYPE} family {want.family}", f"flush {swap}"]
                lines += [f"add {swap} {m}" for m in sorted(members)]
                lines += [f"swap {swap} {name}", f"destroy {swap}"]
        return lines

    def apply(self, desired: dict[str, IpSet]) -> list[str]:
        """Create or update ``desired`` sets in one batch; returns the batch."""
        lines = self.plan(desired, self.list_sets())
        if lines:
            self.restore(lines)
        return lines

    def set_members(self, name: str, family: str, members: Iterable[str]) -> list[str]:
        return self.apply({name: IpSet(family_of(family), set(members))})

    def destroy(self, names: Iterable[str]) -> list[str]:
        """Destroy the named sets (nothing is referencing them any more)."""
        lines = [f"destroy {n}" for n in sorted(names)]
        if lines:
            self.restore(lines)
        return lines

    def restore(self, lines: list[str]) -> None:
        self._runner(["ipset", "restore", "-exist"], "\n".join(lines) + "\n")
