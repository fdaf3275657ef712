"""The iptables_hybrid security-group firewall of a compute node.

* ``hybrid.build``: plain data (ports, security groups, members) -> the
  desired iptables ruleset, ipsets, conntrack zones and, per port, every
  rule with the security-group rule ids it came from (pure function);
* ``driver.FirewallDriver``: applies that with one iptables-restore per
  family (ipsets before, stale ipsets after), deletes the conntrack entries
  a removed rule or member let in (``conntrack.deletions``);
* ``trace.trace``: follows a packet through the rules on paper, for explain.
"""

from neutrino.agents.firewall.driver import FirewallDriver
from neutrino.agents.firewall.hybrid import FirewallPlan, build

__all__ = ["FirewallDriver", "FirewallPlan", "build"]
