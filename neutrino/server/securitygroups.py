"""Security groups, their rules, port security and allowed address pairs.

Neutron's behaviour: every project gets its ``default`` group the first time
it needs one (listing groups, creating a group or a port), with egress to
anywhere and ingress from its own members; a new group only has the two
egress rules. Ports without ``security_groups`` join ``default`` unless port
security is off or the port belongs to the network itself (DHCP, routers).

After commit, agents hear ``security_groups_rule_updated`` when a group's
rules change and ``security_groups_member_updated`` when its members (or
their addresses) change; they then ask ``security_group_info_for_devices``.
"""
import functools
import ipaddress

from sqlalchemy import Text, or_, select, type_coerce
from sqlalchemy.orm import selectinload

from neutrino.db.models import (DefaultSecurityGroup, IPAllocation, Port,
                                PortSecurityGroupBinding, SecurityGroup,
                                SecurityGroupRule, new_id)
from neutrino.server import exceptions as exc
from neutrino.server import policy, views
from neutrino.server import securitygroup_errors as sg_exc
from neutrino.server import securitygroup_rules as rules
from neutrino.server.events import PRECOMMIT_CREATE
from neutrino.server.ports import record_dict, records_by_id

SECURITY_GROUP_UPDATE = "q-agent-notifier-security_group-update"
RULE_UPDATED = "security_groups_rule_updated"
MEMBER_UPDATED = "security_groups_member_updated"
DEFAULT_NAME = "default"
DEFAULT_DESCRIPTION = "Default security group"
MAX_ADDRESS_PAIRS = 10
"""Neutron's max_allowed_address_pair."""

SG_COLUMNS = {"id": SecurityGroup.id, "name": SecurityGroup.name,
              "project_id": SecurityGroup.project_id, "tenant_id": SecurityGroup.project_id,
              "stateful": SecurityGroup.stateful}
RULE_COLUMNS = {
    "id": SecurityGroupRule.id, "project_id": SecurityGroupRule.project_id,
    "tenant_id": SecurityGroupRule.project_id,
    "security_group_id": SecurityGroupRule.security_group_id,
    "remote_group_id": SecurityGroupRule.remote_group_id,
    "direction": SecurityGroupRule.direction, "ethertype": SecurityGroupRule.ethertype,
}
RULE_FIELDS = ("direction", "ethertype", "protocol", "port_range_min", "port_range_max",
               "remote_ip_prefix", "remote_group_id")


def rule_dict(rule: SecurityGroupRule, in_default_group: bool) -> dict:
    return {
        "id": rule.id,
        "project_id": rule.project_id,
        "tenant_id": rule.project_id,
        "security_group_id": rule.security_group_id,
        "direction": rule.direction,
        "ethertype": rule.ethertype,
        "protocol": rule.protocol,
        "port_range_min": rule.port_range_min,
        "port_range_max": rule.port_range_max,
        "remote_ip_prefix": rule.remote_ip_prefix,
        "normalized_cidr": rules.normalized_cidr(rule.remote_ip_prefix),
        "remote_group_id": rule.remote_group_id,
        "remote_address_group_id": None,
        "description": rule.description,
        "created_at": views.timestamp(rule.created_at),
        "updated_at": views.timestamp(rule.updated_at),
        "revision_number": rule.revision_number,
        "belongs_to_default_sg": in_default_group,
    }


def is_default(group: SecurityGroup) -> bool:
    """Only the server names a group ``default`` (the API refuses the name), one per project."""
    return group.name == DEFAULT_NAME


def group_dict(group: SecurityGroup) -> dict:
    d = views.standard_attrs(group)
    d.update({
        "stateful": group.stateful,
        "shared": False,
        "security_group_rules": [rule_dict(r, is_default(group)) for r in group.rules],
    })
    return d


def _trusted(device_owner: str) -> bool:
    """Ports of the network itself (DHCP, router) are not filtered."""
    return device_owner.startswith("network:")


def _group_query():
    return select(SecurityGroup).options(selectinload(SecurityGroup.rules))


class SecurityGroupsMixin:
    # -- groups ---------------------------------------------------------------

    def _get_security_group(self, session, ctx, sg_id: str, lock: bool = False) -> SecurityGroup:
        query = _group_query().where(SecurityGroup.id == sg_id)
        if lock:
            query = query.with_for_update().execution_options(populate_existing=True)
        group = session.execute(query).scalar()
        if group is None or not policy.owns(ctx, group):
            raise sg_exc.SecurityGroupNotFound(id=sg_id)
        return group

    def _security_group_view(self, group: SecurityGroup) -> dict:
        return group_dict(group)

    def _default_security_group(self, session, project_id: str) -> str:
        """The id of the project's ``default`` group, created with its rules if missing.

        Two requests racing to create it collide on the primary key of
        ``default_security_group``; the loser's transaction is retried and
        finds the winner's group.
        """
        row = session.get(DefaultSecurityGroup, project_id)
        if row is not None:
            return row.security_group_id
        group = SecurityGroup(id=new_id(), project_id=project_id, name=DEFAULT_NAME,
                              description=DEFAULT_DESCRIPTION, stateful=True, tags=[],
                              revision_number=0)
        group.rules = [SecurityGroupRule(project_id=project_id, **r)
                       for r in rules.template_rules(group.id, default=True)]
        session.add(group)
        session.flush()
        session.add(DefaultSecurityGroup(project_id=project_id, security_group_id=group.id))
        session.flush()
        return group.id

    def _ensure_default_security_groups(self, project_ids) -> None:
        """Create the missing default groups (a write only when one is missing)."""
        wanted = {p for p in project_ids if p}
        if not wanted:
            return
        with self._read() as session:
            have = set(session.scalars(select(DefaultSecurityGroup.project_id)
                                       .where(DefaultSecurityGroup.project_id.in_(wanted))))
        missing = sorted(wanted - have)
        if missing:
            self._write(lambda tx: [self._default_security_group(tx.session, p)
                                    for p in missing])

    def create_security_group(self, ctx, data: dict) -> dict:
        return self._write(lambda tx: self._create_security_group(tx, ctx, data),
                           self._security_group_view)

    def _create_security_group(self, tx, ctx, data: dict) -> SecurityGroup:
        session = tx.session
        project_id = policy.check_project(ctx, data.get("project_id"))
        self._default_security_group(session, project_id)
        group = SecurityGroup(id=data.get("id") or new_id(), project_id=project_id,
                              name=data.get("name", ""), description=data.get("description", ""),
                              stateful=data.get("stateful", True), tags=[], revision_number=0)
        group.rules = [SecurityGroupRule(project_id=project_id, **r)
                       for r in rules.template_rules(group.id, default=False)]
        session.add(group)
        session.flush()
        self.registry.publish("security_group", PRECOMMIT_CREATE, context=ctx, tx=tx,
                              security_group=group, request=data)
        if group.rules:     # as Neutron: the group's own egress rules count against the quota
            self.registry.publish("security_group_rule", PRECOMMIT_CREATE, context=ctx, tx=tx,
                                  security_group_rule=group.rules[0], request={})
        return group

    def get_security_group(self, ctx, sg_id: str) -> dict:
        with self._read() as session:
            return group_dict(self._get_security_group(session, ctx, sg_id))

    def get_security_groups(self, ctx, filters: dict | None = None) -> list[dict]:
        filters = filters or {}
        projects = [ctx.project_id]
        if ctx.is_admin:
            projects = (filters.get("project_id") or filters.get("tenant_id")
                        or [ctx.project_id])
        self._ensure_default_security_groups(projects)
        query = _group_query().order_by(SecurityGroup.created_at, SecurityGroup.id)
        if not ctx.is_admin:
            query = query.where(SecurityGroup.project_id == ctx.project_id)
        query = self._pushdown(query, filters, SG_COLUMNS)
        with self._read() as session:
            return [group_dict(g) for g in session.scalars(query)]

    def update_security_group(self, ctx, sg_id: str, data: dict,
                              if_revision: int | None = None) -> dict:
        def work(tx):
            group = self._get_security_group(tx.session, ctx, sg_id, lock=True)
            policy.check_modify(ctx, group, "security_group", "update")
            self._check_revision(group, if_revision)
            if is_default(group) and "name" in data:
                raise sg_exc.SecurityGroupCannotUpdateDefault()
            if "stateful" in data and data["stateful"] != group.stateful and self._group_ports(
                    tx.session, group.id):
                raise sg_exc.SecurityGroupInUse(id=group.id)
            changed = False
            for attr in ("name", "description", "stateful"):
                if attr in data and getattr(group, attr) != data[attr]:
                    setattr(group, attr, data[attr])
                    changed = True
            if changed:
                group.bump_revision()
            return group
        return self._write(work, self._security_group_view)

    def delete_security_group(self, ctx, sg_id: str) -> None:
        def work(tx):
            session = tx.session
            group = self._get_security_group(session, ctx, sg_id, lock=True)
            policy.check_modify(ctx, group, "security_group", "delete")
            if self._group_ports(session, group.id):
                raise sg_exc.SecurityGroupInUse(id=group.id)
            if is_default(group) and not ctx.is_admin:
                raise sg_exc.SecurityGroupCannotRemoveDefault()
            referring = session.scalars(select(SecurityGroupRule).where(
                SecurityGroupRule.remote_group_id == group.id,
                SecurityGroupRule.security_group_id != group.id)).all()
            touched = set()
            for rule in referring:
                touched.add(rule.security_group_id)
                session.delete(rule)
            for other in touched:
                session.get(SecurityGroup, other).bump_revision()
            session.delete(group)
            if touched:
                self._notify_rules(tx, touched)
        self._write(work)

    @staticmethod
    def _group_ports(session, sg_id: str) -> list[str]:
        return list(session.scalars(select(PortSecurityGroupBinding.port_id).where(
            PortSecurityGroupBinding.security_group_id == sg_id).limit(1)))

    # -- rules ----------------------------------------------------------------

    def _get_security_group_rule(self, session, ctx, rule_id: str) -> SecurityGroupRule:
        rule = session.get(SecurityGroupRule, rule_id)
        if rule is None or not (policy.owns(ctx, rule) or policy.owns(ctx, rule.security_group)):
            raise sg_exc.SecurityGroupRuleNotFound(id=rule_id)
        return rule

    def _security_group_rule_view(self, rule: SecurityGroupRule) -> dict:
        return rule_dict(rule, is_default(rule.security_group))

    def create_security_group_rule(self, ctx, data: dict) -> dict:
        return self._write(lambda tx: self._create_security_group_rule(tx, ctx, data),
                           self._security_group_rule_view)

    def _create_security_group_rule(self, tx, ctx, data: dict) -> SecurityGroupRule:
        session = tx.session
        group = self._get_security_group(session, ctx, data["security_group_id"], lock=True)
        policy.check_modify(ctx, group, "security_group_rule", "create")
        project_id = (policy.check_project(ctx, data["project_id"]) if data.get("project_id")
                      else group.project_id)
        wanted = rules.validate({"ethertype": rules.IPV4,
                                 **{k: data.get(k) for k in RULE_FIELDS if k in data}})
        remote = wanted.get("remote_group_id")
        if remote and remote != group.id:
            self._get_security_group(session, ctx, remote)
        key = rules.duplicate_key(wanted)
        for existing in group.rules:
            if rules.duplicate_key(rule_dict(existing, False)) == key:
                raise sg_exc.SecurityGroupRuleExists(rule_id=existing.id)
        rule = SecurityGroupRule(id=data.get("id") or new_id(), project_id=project_id,
                                 description=data.get("description", ""),
                                 **{k: wanted.get(k) for k in RULE_FIELDS})
        group.rules.append(rule)
        group.bump_revision()
        session.flush()
        self.registry.publish("security_group_rule", PRECOMMIT_CREATE, context=ctx, tx=tx,
                              security_group_rule=rule, request=data)
        self._notify_rules(tx, [group.id])
        return rule

    def get_security_group_rule(self, ctx, rule_id: str) -> dict:
        with self._read() as session:
            return self._security_group_rule_view(
                self._get_security_group_rule(session, ctx, rule_id))

    def get_security_group_rules(self, ctx, filters: dict | None = None) -> list[dict]:
        query = (select(SecurityGroupRule)
                 .options(selectinload(SecurityGroupRule.security_group))
                 .order_by(SecurityGroupRule.created_at, SecurityGroupRule.id))
        if not ctx.is_admin:
            own_groups = select(SecurityGroup.id).where(
                SecurityGroup.project_id == ctx.project_id)
            query = query.where(or_(SecurityGroupRule.project_id == ctx.project_id,
                                    SecurityGroupRule.security_group_id.in_(own_groups)))
        query = self._pushdown(query, filters, RULE_COLUMNS)
        with self._read() as session:
            return [self._security_group_rule_view(r) for r in session.scalars(query)]

    def update_security_group_rule(self, ctx, rule_id: str, data: dict,
                                   if_revision: int | None = None) -> dict:
        def work(tx):
            rule = self._get_security_group_rule(tx.session, ctx, rule_id)
            self._check_rule_owner(ctx, rule, "update")
            self._check_revision(rule, if_revision)
            if "description" in data and data["description"] != rule.description:
                rule.description = data["description"]
                rule.bump_revision()
            return rule
        return self._write(work, self._security_group_rule_view)

    def delete_security_group_rule(self, ctx, rule_id: str) -> None:
        def work(tx):
            rule = self._get_security_group_rule(tx.session, ctx, rule_id)
            self._check_rule_owner(ctx, rule, "delete")
            group = rule.security_group
            group.rules.remove(rule)
            group.bump_revision()
            self._notify_rules(tx, [group.id])
        self._write(work)

    @staticmethod
    def _check_rule_owner(ctx, rule: SecurityGroupRule, action: str) -> None:
        if not (policy.owns(ctx, rule) or policy.owns(ctx, rule.security_group)):
            raise exc.PolicyNotAuthorized(action=f"rule:{action}_security_group_rule")

    # -- ports ----------------------------------------------------------------

    def _port_security_groups(self, session, ctx, project_id: str, data: dict,
                              port_security: bool, device_owner: str) -> list[str]:
        """The groups a port joins: those asked for (which must exist and belong to
        the port's project unless an admin asks), else the project's default."""
        if "security_groups" not in data:
            if not port_security or _trusted(device_owner):
                return []
            return [self._default_security_group(session, project_id)]
        wanted = list(dict.fromkeys(data["security_groups"] or []))
        if not wanted:
            return []
        query = select(SecurityGroup.id, SecurityGroup.stateful).where(
            SecurityGroup.id.in_(wanted))
        if not ctx.is_admin:
            query = query.where(SecurityGroup.project_id == project_id)
        found = {sg: stateful for sg, stateful in session.execute(query)}
        missing = [sg for sg in wanted if sg not in found]
        if missing:
            raise sg_exc.SecurityGroupNotFound(id=", ".join(missing))
        if len(set(found.values())) > 1:
            raise sg_exc.SecurityGroupConflict(
                reason="Cannot apply both stateful and stateless security groups on the same "
                       "port at the same time")
        return wanted

    @staticmethod
    def _address_pairs(pairs: list[dict] | None, mac: str) -> list[dict]:
        """Allowed address pairs with the port's MAC filled in; duplicates refused."""
        pairs = pairs or []
        if len(pairs) > MAX_ADDRESS_PAIRS:
            raise sg_exc.AllowedAddressPairExhausted(quota=MAX_ADDRESS_PAIRS)
        out, seen = [], set()
        for pair in pairs:
            entry = {"ip_address": pair["ip_address"],
                     "mac_address": pair.get("mac_address") or mac}
            key = (entry["mac_address"], entry["ip_address"])
            if key in seen:
                raise sg_exc.DuplicateAddressPairInRequest(mac_address=key[0],
                                                           ip_address=key[1])
            seen.add(key)
            out.append(entry)
        return out

    @staticmethod
    def _check_port_security_update(port: Port, data: dict) -> None:
        """Turning port security off needs the groups and address pairs cleared too."""
        if data.get("port_security_enabled", port.port_security_enabled):
            return
        if data.get("security_groups"):
            raise exc.PortSecurityAndIPRequiredForSecurityGroups()
        if "security_groups" not in data and port.security_group_bindings:
            raise sg_exc.PortSecurityPortHasSecurityGroup()
        if data.get("allowed_address_pairs", port.allowed_address_pairs):
            raise exc.AddressPairAndPortSecurityRequired()

    @staticmethod
    def _sg_membership(port: Port | None) -> tuple[set[str], set[str]]:
        """(groups, addresses) of a port as remote-group members see it."""
        if port is None:
            return set(), set()
        groups = {b.security_group_id for b in port.security_group_bindings}
        addresses = {a.ip_address for a in port.fixed_ips}
        addresses |= {p["ip_address"] for p in port.allowed_address_pairs or []}
        return groups, addresses

    def _notify_sg_members(self, tx, before: tuple[set[str], set[str]],
                           port: Port | None) -> None:
        """member_updated for the groups a port joined or left, or all of its
        groups when its addresses changed."""
        old_groups, old_addresses = before
        new_groups, new_addresses = self._sg_membership(port)
        changed = old_groups ^ new_groups
        if old_addresses != new_addresses:
            changed |= old_groups | new_groups
        if changed:
            tx.notify(SECURITY_GROUP_UPDATE, MEMBER_UPDATED,
                      {"security_groups": sorted(changed)})

    @staticmethod
    def _notify_rules(tx, group_ids) -> None:
        tx.notify(SECURITY_GROUP_UPDATE, RULE_UPDATED, {"security_groups": sorted(group_ids)})

    # -- agents ---------------------------------------------------------------

    def security_group_info_for_devices(self, devices: list[str]) -> dict:
        """What the firewall of these ports needs (docs/design.md, "Security groups").

        Plain rows of prebuilt statements (no ORM objects): every OVS agent asks
        this for each batch of ports it wires.
        """
        with self._read() as session:
            conn = session.connection()
            ports = records_by_id(conn, devices)
            sg_ids = sorted({sg for _, _, groups in ports.values() for sg in groups})
            groups: dict[str, tuple[bool, bool]] = {}
            group_rules: dict[str, list] = {}
            if sg_ids:
                groups = {sg: (name == DEFAULT_NAME, stateful) for sg, name, stateful
                          in conn.execute(_GROUP_ROWS.where(_GROUPS_TABLE.c.id.in_(sg_ids)))}
                for rule in conn.execute(_RULE_ROWS.where(
                        _RULES_TABLE.c.security_group_id.in_(sg_ids))):
                    group_rules.setdefault(rule.security_group_id, []).append(rule)
            remote = sorted({r.remote_group_id for found in group_rules.values() for r in found
                             if r.remote_group_id})
            return {
                "devices": {port_id: record_dict(r) for port_id, r in ports.items()},
                "security_groups": {
                    sg: [rule_dict(r, groups[sg][0]) for r in group_rules.get(sg, ())]
                    if sg in groups else [] for sg in sg_ids},
                "sg_member_ips": self._member_ips(conn, remote),
                "stateful": {sg: groups[sg][1] if sg in groups else True for sg in sg_ids},
            }

    @staticmethod
    def _member_ips(conn, sg_ids: list[str]) -> dict[str, dict[str, list[str]]]:
        """Fixed IPs and address-pair addresses of the ports in each group, per ethertype."""
        if not sg_ids:
            return {}
        found: dict[str, set[str]] = {sg: set() for sg in sg_ids}
        for sg, address in conn.execute(_MEMBER_IPS.where(_MEMBER_GROUP.in_(sg_ids))):
            found[sg].add(address)
        for sg, pairs in conn.execute(_MEMBER_PAIRS.where(_MEMBER_GROUP.in_(sg_ids))):
            found[sg].update(p["ip_address"] for p in views.loads(pairs) or [])
        out = {}
        for sg, addresses in found.items():
            by_version = {rules.IPV4: [], rules.IPV6: []}
            for address in sorted(addresses, key=_address_order):
                by_version[rules.IPV4 if _address_order(address)[0] == 4
                           else rules.IPV6].append(address)
            out[sg] = by_version
        return out


@functools.lru_cache(maxsize=8192)
def _address_order(address: str):
    """(version, address, prefix length) of an address or CIDR; the same few
    hundred member addresses are sorted on every call, so each is parsed once."""
    if "/" not in address:
        ip = ipaddress.ip_address(address)
        return ip.version, ip, ip.max_prefixlen
    iface = ipaddress.ip_interface(address)
    return iface.version, iface.ip, iface.network.prefixlen


_GROUPS_TABLE = SecurityGroup.__table__
_RULES_TABLE = SecurityGroupRule.__table__
_BINDINGS_TABLE = PortSecurityGroupBinding.__table__
_GROUP_ROWS = select(_GROUPS_TABLE.c.id, _GROUPS_TABLE.c.name, _GROUPS_TABLE.c.stateful)
_RULE_ROWS = (select(*views.raw_columns(_RULES_TABLE))
              .order_by(_RULES_TABLE.c.created_at, _RULES_TABLE.c.id))
"""A group's rules in the order of ``SecurityGroup.rules``."""
_MEMBER_GROUP = _BINDINGS_TABLE.c.security_group_id
_MEMBER_IPS = (select(_MEMBER_GROUP, IPAllocation.__table__.c.ip_address)
               .join(IPAllocation.__table__,
                     IPAllocation.__table__.c.port_id == _BINDINGS_TABLE.c.port_id))
_MEMBER_PAIRS = (select(_MEMBER_GROUP,
                        type_coerce(Port.__table__.c.allowed_address_pairs, Text))
                 .join(Port.__table__, Port.__table__.c.id == _BINDINGS_TABLE.c.port_id))
