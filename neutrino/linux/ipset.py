"""ipset management: whole batches through ``ipset restore``.

A desired set is a name, a family (``inet``/``inet6``) and its members
(addresses or CIDRs). :meth:`IpsetManager.apply` reads ``ipset save`` once and
sends one ``ipset restore`` batch: missing sets are created with their
members, small changes (at most ``SWAP_THRESHOLD``) are applied with add/del,
bigger ones by filling a ``<name>-n`` set and swapping it in, so a rule that
matches the set never sees it half-filled. ``hash:net`` cannot hold a /0, so
it is stored as two /1s, as Neutron does.

Like Neutron's IpsetManager, the manager remembers the sets it made true
(name -> family and members, as ``ipset save`` would print them) and plans
against that memory instead of listing the sets on every update. It reads
``ipset save`` on first use, when asked to ``verify`` and after any failure
(the memory is dropped).
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


def replay(sets: dict[str, IpSet], lines: list[str]) -> dict[str, IpSet] | None:
    """``sets`` changed in place as ``ipset restore -exist`` of ``lines`` (a
    batch the kernel accepted) changed the kernel; None for a line whose
    effect cannot be told exactly."""
    for line in lines:
        words = line.split()
        if len(words) < 2:
            return None
        op, name, args = words[0], words[1], words[2:]
        if op == "create":
            if "family" not in args or args.index("family") + 1 >= len(args):
                return None
            family = args[args.index("family") + 1]
            if name in sets and sets[name].family != family:
                return None
            sets.setdefault(name, IpSet(family))
        elif name not in sets:
            return None
        elif op == "add" and len(args) == 1:
            sets[name].members |= canonical_members(args)
        elif op == "del" and len(args) == 1:
            sets[name].members -= canonical_members(args)
        elif op == "flush" and not args:
            sets[name].members = set()
        elif op == "swap" and len(args) == 1 and args[0] in sets:
            sets[name], sets[args[0]] = sets[args[0]], sets[name]
        elif op == "destroy" and not args:
            del sets[name]
        else:
            return None
    return sets


class IpsetManager:
    """Keeps the ipsets of one network namespace (None = the current one)."""

    def __init__(self, netns: str | None = None, runner: Runner | None = None):
        self.netns = netns
        self._runner = runner or self._run
        self._known: dict[str, IpSet] | None = None  # the sets as ipset save prints them

    def _run(self, cmd: list, input: str | None) -> str:
        return proc.run(cmd, netns=self.netns, input=input).out

    def list_sets(self) -> dict[str, IpSet]:
        """The kernel's sets, read with ``ipset save`` (the memory is renewed)."""
        self._known = None
        sets = parse_save(self._runner(["ipset", "save"], None))
        self._known = {name: IpSet(s.family, set(s.members)) for name, s in sets.items()}
        return sets

    def sets(self, verify: bool = False) -> dict[str, IpSet]:
        """The sets as last made true (read from the kernel when unknown or
        with ``verify``); do not change the answer."""
        if verify or self._known is None:
            self.list_sets()
        return self._known

    def remembered(self) -> dict[str, IpSet] | None:
        return self._known

    def forget(self) -> None:
        """Drop the memory: the next apply reads the kernel."""
        self._known = None

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

    def apply(self, desired: dict[str, IpSet], verify: bool = False) -> list[str]:
        """Create or update ``desired`` sets in one batch; returns the batch.

        Planned against the memory (see :meth:`sets`)."""
        lines = self.plan(desired, self.sets(verify))
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
        """One ``ipset restore -exist`` batch; the memory follows it."""
        known, self._known = self._known, None  # unknown until the batch landed
        self._runner(["ipset", "restore", "-exist"], "\n".join(lines) + "\n")
        if known is not None:
            self._known = replay(known, lines)
