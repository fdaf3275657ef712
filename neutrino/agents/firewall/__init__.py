"""The iptables_hybrid security-group firewall of a compute node.

``hybrid.build`` turns plain data (ports, security groups, members) into
the desired iptables ruleset and ipsets; ``driver.FirewallDriver`` applies
that with one iptables-restore per family and remembers which
security-group rule every iptables rule came from.
"""

from neutrino.agents.firewall.driver import FirewallDriver
from neutrino.agents.firewall.hybrid import FirewallPlan, build

__all__ = ["FirewallDriver", "FirewallPlan", "build"]
