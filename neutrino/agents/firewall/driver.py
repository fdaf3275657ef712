"""FirewallDriver: computes the hybrid ruleset and applies it on the node.

The OVS agent calls :meth:`FirewallDriver.update` with the complete current
picture (every port on the node it filters, the groups they use and the
members of every group their rules refer to) whenever any of it changes. The
driver applies the difference: ipsets first (new sets must exist before a
rule names them), then one iptables-restore per family, then stale ipsets
are destroyed (no rule refers to them any more), then the conntrack entries
that a removed rule or member had let in are deleted.
"""
from __future__ import annotations

import logging
import re
import threading

from neutrino.agents.firewall.conntrack import deletions
from neutrino.agents.firewall.hybrid import (PREFIX, FirewallPlan, RuleRef, build,
                                             normalise_port, tap_name)
from neutrino.errors import NeutrinoError
from neutrino.linux import proc
from neutrino.linux.iptables import IptablesManager
from neutrino.linux.ipset import IpsetManager

LOG = logging.getLogger(__name__)
IPSET_PREFIXES = ("NIPv4", "NIPv6")
_ZONE_RULE = re.compile(r"--physdev-in (tap\S+) .*-j CT --zone (\d+)")


class FirewallDriver:
    """The iptables_hybrid firewall of one node (``netns`` None = this one)."""

    def __init__(self, netns: str | None = None, use_ipv6: bool = True,
                 iptables: IptablesManager | None = None, ipsets: IpsetManager | None = None,
                 flush_conntrack: bool = True):
        self.netns = netns
        self.use_ipv6 = use_ipv6
        self.iptables = iptables or IptablesManager(PREFIX, netns=netns, use_ipv6=use_ipv6,
                                                    remember=True)
        self.ipsets = ipsets or IpsetManager(netns=netns)
        self.flush_conntrack = flush_conntrack
        self.plan: FirewallPlan | None = None
        self._applied_text: list[str] = []  # self.plan's ruleset rendered
        self._zones: dict[str, int] | None = None
        self._lock = threading.Lock()

    def _known_zones(self, ports) -> dict[str, int]:
        """Zones in use; on the first call read back from the raw table, so an
        agent restart keeps every port's zone (and its conntrack entries)."""
        if self._zones is None:
            self._zones = {}
            taps = {tap_name(p["id"]): p["id"] for p in ports}
            raw = self.iptables.chain_rules("ipv4", "raw")
            for rules in raw.values():
                for rule in rules:
                    match = _ZONE_RULE.search(rule)
                    if match and match.group(1) in taps:
                        self._zones[taps[match.group(1)]] = int(match.group(2))
        return self._zones

    def update(self, ports, groups, members, verify: bool = False) -> FirewallPlan:
        """Make the node's firewall match these ports; returns the new plan.

        iptables and ipsets are diffed against what the managers remember
        having made true (read from the kernel on first use and after a
        failure) when the wanted ruleset differs from the last one applied,
        and against the kernel (iptables-save, ipset save) with ``verify``
        (the agent's periodic resync passes it, to repair drift). A change of
        group members alone is then one ipset batch, and an update reads
        nothing from the kernel.
        """
        with self._lock:
            try:
                return self._update([normalise_port(p) for p in ports], groups, members,
                                    verify)
            except Exception:
                # Unknown kernel state: the next update re-reads it.
                self.plan = None
                self.iptables.forget()
                self.ipsets.forget()
                raise

    def _update(self, ports, groups, members, verify) -> FirewallPlan:
        plan = build(ports, groups, members, zones=self._known_zones(ports),
                     prefix=self.iptables.prefix, use_ipv6=self.use_ipv6)
        previous = self.plan
        fresh = verify or previous is None
        if fresh or previous.ipsets != plan.ipsets:
            self.ipsets.apply(plan.ipsets, verify=verify)
        text = _rendered(plan)
        if fresh or self._applied_text != text:
            applied = self.iptables.apply(plan.ruleset, verify=verify)
            LOG.debug("firewall: %d ports, iptables lines applied %s", len(ports),
                      {fam: len(lines) for fam, lines in applied.items()})
        if fresh or previous.ipsets.keys() != plan.ipsets.keys():
            # A verify read the sets in the apply above: no second ipset save.
            stale = [name for name in self.ipsets.sets()
                     if name.startswith(IPSET_PREFIXES) and name not in plan.ipsets]
            self.ipsets.destroy(stale)
        self._zones = dict(plan.zones)
        self.plan = plan
        self._applied_text = text
        if self.flush_conntrack and previous is not None:
            self._forget_connections(previous, plan)
        return plan

    def resync(self, ports, groups, members) -> FirewallPlan:
        """``update`` that re-reads the kernel whatever was applied before."""
        return self.update(ports, groups, members, verify=True)

    def _forget_connections(self, before: FirewallPlan, after: FirewallPlan) -> None:
        """Delete the conntrack entries a removed rule or member let in (see
        ``conntrack.deletions``); a missing conntrack tool only logs."""
        for args in deletions(before, after):
            try:
                done = proc.run(["conntrack", "-D", *args], netns=self.netns, check=False)
            except NeutrinoError as exc:
                LOG.warning("conntrack -D %s: %s", " ".join(args), exc)
                return
            # conntrack exits 1 when nothing matched; only other codes are errors.
            if done.rc not in (0, 1):
                LOG.warning("conntrack -D %s: %s", " ".join(args), done.err.strip())

    def remove_all(self) -> None:
        """Remove every chain, rule and ipset this firewall made."""
        self.update([], {}, {})

    def rules_for_port(self, port_id: str) -> list[dict]:
        """Every iptables rule rendered for ``port_id``, in chain order, with
        the security-group rule ids it came from (empty for fixed rules)."""
        if self.plan is None:
            return []
        return [rule_dict(ref) for ref in self.plan.port_rules.get(port_id, [])]


def _rendered(plan: FirewallPlan) -> list[str]:
    return [plan.ruleset.render(family) for family in plan.ruleset.families]


def rule_dict(ref: RuleRef) -> dict:
    return {"family": ref.family, "table": ref.table, "chain": ref.chain,
            "rule": ref.rule, "security_group_rule_ids": list(ref.sg_rule_ids)}
