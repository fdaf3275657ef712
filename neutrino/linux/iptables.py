"""An iptables manager: desired tables as data, applied by diff in one restore.

The caller builds a :class:`Ruleset` (per address family, per table, the
chains and rules it wants), and :meth:`IptablesManager.apply` makes the
kernel match it with exactly one ``iptables-restore -n`` per family (none
when nothing differs). Ownership follows Neutron's IptablesManager:

* wrapped chains ``<prefix>-<name>`` (prefix = binary name cut to 16, name
  cut to 11) belong to this manager entirely: their rules are diffed and
  chains no longer wanted are flushed and deleted;
* builtin chains (INPUT, FORWARD, ...) and shared unwrapped chains
  (``neutron-filter-top``, ``neutron-postrouting-bottom``) hold rules of
  others too: only the rules that jump to one of our chains are ours;
* every other chain and rule (the host's, Docker's) is left alone.

Rules are written in ``iptables-save`` canonical form (comment just before
``-j``) so that the diff against ``iptables-save`` is exact. The only
difference tolerated is that iptables 1.8 prints MAC addresses in lower case
while Neutron writes them upper case; :func:`rule_key` folds that (and
quoting) away.

A manager made with ``remember=True`` keeps, per family, what iptables-save
would print after its last restore (:func:`replay` plays the restore lines on
the parsed tables) and plans the next apply against that, as Neutron's
managers avoid re-reading the kernel: no iptables-save per update. It reads
the kernel on first use, with ``verify``, after any failure, and where the
effect of a batch cannot be told exactly; a batch planned from memory that
the kernel refuses (someone changed our chains) is planned again from a fresh
iptables-save. Rules others add to shared chains meanwhile are not in the
memory, which is harmless: our commands there are position-free (``-D`` by
rule, ``-I 1``, ``-A``), and the next verify reads them in.
"""
from __future__ import annotations

import bisect
import difflib
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

from neutrino.errors import CommandFailed, NeutrinoError
from neutrino.linux import proc

LOG = logging.getLogger(__name__)

FAMILIES = ("ipv4", "ipv6")
PREFIX_MAX_LEN = 16
WRAPPED_NAME_MAX_LEN = 11
UNWRAPPED_NAME_MAX_LEN = 28

BUILTIN_CHAINS = {
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
    "raw": ("PREROUTING", "OUTPUT"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
}
TABLES = tuple(BUILTIN_CHAINS)

# Builtin chains that get a wrapped copy, per table. The L2 agent's manager is
# "stateless" in Neutron's terms: no nat POSTROUTING/OUTPUT, no mangle.
COMPUTE_WRAPPED = {
    "filter": ("INPUT", "OUTPUT", "FORWARD"),
    "raw": ("PREROUTING", "OUTPUT"),
    "nat": ("PREROUTING",),
}
ROUTER_WRAPPED = {
    "filter": ("INPUT", "OUTPUT", "FORWARD"),
    "raw": ("PREROUTING", "OUTPUT"),
    "nat": ("PREROUTING", "OUTPUT", "POSTROUTING"),
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
}
FILTER_TOP = "neutron-filter-top"
POSTROUTING_BOTTOM = "neutron-postrouting-bottom"
SHARED_CHAINS = (FILTER_TOP, POSTROUTING_BOTTOM)

SAVE_CMD = {"ipv4": "iptables-save", "ipv6": "ip6tables-save"}
RESTORE_CMD = {"ipv4": "iptables-restore", "ipv6": "ip6tables-restore"}

Runner = Callable[[list, "str | None"], str]


class IptablesApplyError(NeutrinoError):
    """iptables-restore refused the batch; the message names the bad line."""


def binary_prefix(binary_name: str) -> str:
    return binary_name[:PREFIX_MAX_LEN]


def comment_rule(rule: str, comment: str | None) -> str:
    """``rule`` with ``-m comment`` placed where iptables-save prints it."""
    if not comment:
        return rule
    match = f'-m comment --comment "{comment}"'
    if rule.startswith("-j ") or rule.startswith("-g "):
        return f"{match} {rule}"
    for jump in (" -j ", " -g "):
        if jump in rule:
            head, tail = rule.split(jump, 1)
            return f"{head} {match}{jump}{tail}"
    return f"{rule} {match}"


_CHAIN_REF = re.compile(r"\$(\S+)")
_MAC = re.compile(r"(--mac-source) (\S+)")
_BARE_COMMENT = re.compile(r'(--comment) "([^"\s\\]*)"')


@lru_cache(maxsize=65536)
def rule_key(rule: str) -> str:
    """A comparison key that ignores the case of MAC addresses, the quotes
    around a one-word comment and repeated blanks (regexes, not shlex: this
    runs for every rule of every chain on each apply)."""
    key = " ".join(rule.split())
    if "--mac-source" in key:
        key = _MAC.sub(lambda m: f"{m.group(1)} {m.group(2).lower()}", key)
    if '"' in key:
        key = _BARE_COMMENT.sub(r"\1 \2", key)
    return key


def _target(rule: str) -> str | None:
    tokens = rule.split()
    for flag in ("-j", "-g"):
        if flag in tokens:
            i = tokens.index(flag)
            if i + 1 < len(tokens):
                return tokens[i + 1]
    return None


@dataclass
class Chain:
    """Our rules in one chain: ``top`` ones first, then ``bottom`` ones."""
    top: list[str] = field(default_factory=list)
    bottom: list[str] = field(default_factory=list)

    @property
    def rules(self) -> list[str]:
        return self.top + self.bottom


class Table:
    """The desired content of one table of one address family."""

    def __init__(self, name: str, prefix: str):
        if name not in BUILTIN_CHAINS:
            raise NeutrinoError(f"unknown iptables table {name!r}")
        self.name = name
        self.prefix = binary_prefix(prefix)
        self.chains: dict[str, Chain] = {}

    def wrap(self, name: str) -> str:
        return f"{self.prefix}-{name[:WRAPPED_NAME_MAX_LEN]}"

    def full_name(self, name: str, wrap: bool = True) -> str:
        if wrap:
            return self.wrap(name)
        if name in BUILTIN_CHAINS[self.name]:
            return name
        return name[:UNWRAPPED_NAME_MAX_LEN]

    def add_chain(self, name: str, wrap: bool = True) -> str:
        full = self.full_name(name, wrap)
        self.chains.setdefault(full, Chain())
        return full

    def has_chain(self, name: str, wrap: bool = True) -> bool:
        return self.full_name(name, wrap) in self.chains

    def expand(self, rule: str) -> str:
        """Replace ``$name`` by the wrapped chain name, as Neutron does."""
        if "$" not in rule:
            return rule
        return _CHAIN_REF.sub(lambda m: self.wrap(m.group(1)), rule)

    def add_rule(self, chain: str, rule: str, wrap: bool = True, top: bool = False,
                 comment: str | None = None) -> str:
        """Append (or with ``top`` insert before the bottom rules) ``rule``.

        Returns the rule as it will appear in iptables-save.
        """
        full = self.full_name(chain, wrap)
        if full not in self.chains:
            if full in BUILTIN_CHAINS[self.name]:
                self.chains[full] = Chain()
            else:
                raise NeutrinoError(f"chain {full} is not in table {self.name}")
        text = comment_rule(self.expand(rule), comment)
        target = self.chains[full]
        (target.top if top else target.bottom).append(text)
        return text

    def rules(self, full_name: str) -> list[str]:
        chain = self.chains.get(full_name)
        return chain.rules if chain else []

    def is_builtin(self, full_name: str) -> bool:
        return full_name in BUILTIN_CHAINS[self.name]

    def render(self) -> list[str]:
        """This table as iptables-save would print it (our part only)."""
        builtins = BUILTIN_CHAINS[self.name]
        user = sorted(c for c in self.chains if c not in builtins)
        lines = [f"*{self.name}"]
        lines += [f":{c} ACCEPT [0:0]" for c in builtins]
        lines += [f":{c} - [0:0]" for c in user]
        for chain in [*builtins, *user]:
            lines += [f"-A {chain} {r}" for r in self.rules(chain)]
        lines.append("COMMIT")
        return lines


class Ruleset:
    """Desired tables for both families (``ipv4``, ``ipv6``)."""

    def __init__(self, prefix: str, use_ipv6: bool = True):
        self.prefix = binary_prefix(prefix)
        self.families = FAMILIES if use_ipv6 else ("ipv4",)
        self.tables: dict[str, dict[str, Table]] = {
            fam: {name: Table(name, self.prefix) for name in TABLES}
            for fam in self.families}

    @property
    def ipv4(self) -> dict[str, Table]:
        return self.tables["ipv4"]

    @property
    def ipv6(self) -> dict[str, Table]:
        return self.tables.get("ipv6", {})

    def each(self, table: str):
        """The tables called ``table`` of every family (for v4+v6 rules)."""
        return [self.tables[fam][table] for fam in self.families]

    def render(self, family: str = "ipv4") -> str:
        lines: list[str] = []
        for table in self.tables[family].values():
            if table.chains:
                lines += table.render()
        return "\n".join(lines) + "\n"


def new_ruleset(binary_name: str, wrapped: dict = COMPUTE_WRAPPED,
                use_ipv6: bool = True) -> Ruleset:
    """A ruleset holding the skeleton Neutron's IptablesManager builds.

    Each builtin chain listed in ``wrapped`` jumps to its wrapped copy; in
    filter, FORWARD and OUTPUT first jump to the shared ``neutron-filter-top``,
    which jumps to ``<prefix>-local``; nat POSTROUTING ends in the shared
    ``neutron-postrouting-bottom``.
    """
    rs = Ruleset(binary_name, use_ipv6)
    for fam in rs.families:
        for table_name, chains in wrapped.items():
            table = rs.tables[fam][table_name]
            for builtin in chains:
                table.add_chain(builtin)
                table.add_rule(builtin, f"-j ${builtin}", wrap=False)
            if table_name == "filter":
                table.add_chain(FILTER_TOP, wrap=False)
                for builtin in ("FORWARD", "OUTPUT"):
                    table.add_rule(builtin, f"-j {FILTER_TOP}", wrap=False, top=True)
                table.add_chain("local")
                table.add_rule(FILTER_TOP, "-j $local", wrap=False)
            if table_name == "nat" and "POSTROUTING" in chains:
                table.add_chain(POSTROUTING_BOTTOM, wrap=False)
                table.add_rule("POSTROUTING", f"-j {POSTROUTING_BOTTOM}", wrap=False)
    return rs


@dataclass
class SavedTable:
    """One table as parsed from iptables-save."""
    chains: list[str] = field(default_factory=list)
    rules: dict[str, list[str]] = field(default_factory=dict)


def parse_save(text: str) -> dict[str, SavedTable]:
    tables: dict[str, SavedTable] = {}
    current: SavedTable | None = None
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        if line.startswith("*"):
            current = tables.setdefault(line[1:].strip(), SavedTable())
        elif current is None or line == "COMMIT":
            continue
        elif line.startswith(":"):
            name = line[1:].split()[0]
            current.chains.append(name)
            current.rules.setdefault(name, [])
        elif line.startswith("-A "):
            _, chain, rest = line.split(" ", 2)
            current.rules.setdefault(chain, []).append(rest)
    return tables


_QUOTED_WORD_COMMENT = re.compile(r'(--comment) "([A-Za-z0-9_]+)"')


@lru_cache(maxsize=65536)
def saved_form(rule: str) -> str:
    """``rule`` (in our canonical form) as iptables-save prints it back: MAC
    addresses in lower case, a comment of letters, digits and ``_`` only
    without quotes (iptables 1.8 quotes every other comment)."""
    if "--mac-source" in rule:
        rule = _MAC.sub(lambda m: f"{m.group(1)} {m.group(2).lower()}", rule)
    if '--comment "' in rule:
        rule = _QUOTED_WORD_COMMENT.sub(r"\1 \2", rule)
    return rule


def replay(tables: dict[str, SavedTable], lines: list[str]) -> dict[str, SavedTable] | None:
    """``tables`` (a parsed iptables-save) changed in place as ``iptables-restore
    -n`` of ``lines`` changed the kernel, as iptables-save would print it now.

    Only for a batch the kernel accepted. Returns None when the effect cannot
    be told exactly (a form :meth:`IptablesManager.plan_against` never writes,
    a rule or position the tables do not have): the caller re-reads instead.
    A new table comes with all its builtin chains and user chains are kept in
    byte order after the builtins, as iptables-save (legacy and nf_tables) lists them.
    """
    table: SavedTable | None = None
    builtins: tuple[str, ...] = ()
    for line in lines:
        if line.startswith("*"):
            builtins = BUILTIN_CHAINS.get(line[1:], ())
            if not builtins:
                return None
            table = tables.get(line[1:])
            if table is None:
                table = tables[line[1:]] = SavedTable(list(builtins),
                                                      {c: [] for c in builtins})
            elif any(c not in table.rules for c in builtins):
                return None
        elif line == "COMMIT":
            table = None
        elif table is None:
            return None
        elif line.startswith(":"):
            words = line[1:].split()
            chain = words[0]
            if len(words) < 2 or words[1] != "-" or chain in builtins:
                return None
            if chain not in table.rules:
                first_user = next((i for i, c in enumerate(table.chains)
                                   if c not in builtins), len(table.chains))
                bisect.insort(table.chains, chain, lo=first_user)
            table.rules[chain] = []  # restore -n flushes a chain it declares
        elif not _replay_rule(table, line):
            return None
    return tables


def _replay_rule(table: SavedTable, line: str) -> bool:
    op, chain, *rest = line.split(" ", 2)
    rules = table.rules.get(chain)
    if rules is None:
        return False
    arg = rest[0] if rest else ""
    if op == "-A" and arg:
        rules.append(saved_form(arg))
    elif op == "-I":
        pos, _, rule = arg.partition(" ")
        if not pos.isdigit() or not rule or not 1 <= int(pos) <= len(rules) + 1:
            return False
        rules.insert(int(pos) - 1, saved_form(rule))
    elif op == "-D" and arg.isdigit():
        if not 1 <= int(arg) <= len(rules):
            return False
        del rules[int(arg) - 1]
    elif op == "-D" and arg:
        key = rule_key(arg)
        at = next((i for i, r in enumerate(rules) if rule_key(r) == key), None)
        if at is None:
            return False
        del rules[at]
    elif op == "-F" and not arg:
        rules.clear()
    elif op == "-X" and not arg and not rules:
        del table.rules[chain]
        table.chains.remove(chain)
    else:
        return False
    return True


def _diff_owned_chain(chain: str, old: list[str], new: list[str]) -> list[str]:
    """-D/-I/-A commands that turn ``old`` into ``new``, keeping equal rules."""
    if old == new:
        return []
    old_keys = [rule_key(r) for r in old]
    new_keys = [rule_key(r) for r in new]
    if old_keys == new_keys:
        return []
    ops = [op for op in difflib.SequenceMatcher(None, old_keys, new_keys,
                                                autojunk=False).get_opcodes()
           if op[0] != "equal"]
    length = len(old)
    out: list[str] = []
    # Last change first, so positions before it stay valid.
    for _tag, i1, i2, j1, j2 in reversed(ops):
        out += [f"-D {chain} {i1 + 1}"] * (i2 - i1)
        length -= i2 - i1
        for k, rule in enumerate(new[j1:j2]):
            pos = i1 + 1 + k
            out.append(f"-A {chain} {rule}" if pos > length
                       else f"-I {chain} {pos} {rule}")
            length += 1
    return out


class IptablesManager:
    """Applies a :class:`Ruleset` to the kernel of one network namespace."""

    def __init__(self, binary_name: str = "neutron-openvswi", netns: str | None = None,
                 use_ipv6: bool = True, wrapped: dict = COMPUTE_WRAPPED,
                 runner: Runner | None = None, remember: bool = False):
        self.prefix = binary_prefix(binary_name)
        self.netns = netns
        self.use_ipv6 = use_ipv6
        self.wrapped = wrapped
        self._runner = runner or self._run
        self.desired = self.new_ruleset()
        self.remember = remember
        # Per family, the tables as iptables-save would print them now (only
        # with ``remember``); a family is absent while unknown.
        self._known: dict[str, dict[str, SavedTable]] = {}

    def _run(self, cmd: list, input: str | None) -> str:
        return proc.run(cmd, netns=self.netns, input=input).out

    def new_ruleset(self) -> Ruleset:
        return new_ruleset(self.prefix, self.wrapped, self.use_ipv6)

    def _ours(self, chain: str) -> bool:
        return chain.startswith(self.prefix + "-")

    def _our_rule(self, rule: str) -> bool:
        target = _target(rule)
        return bool(target) and (self._ours(target) or target in SHARED_CHAINS)

    def save(self, family: str = "ipv4") -> str:
        return self._runner([SAVE_CMD[family]], None)

    def remembered(self, family: str) -> dict[str, SavedTable] | None:
        """What this manager believes iptables-save prints now (None: unknown)."""
        return self._known.get(family)

    def forget(self) -> None:
        """Drop the memory: the next apply reads the kernel."""
        self._known.clear()

    def plan(self, ruleset: Ruleset, family: str, saved: str) -> list[str]:
        """The iptables-restore lines (tables, COMMITs included) for a change."""
        return self.plan_against(ruleset, family, parse_save(saved))

    def plan_against(self, ruleset: Ruleset, family: str,
                     current: dict[str, SavedTable]) -> list[str]:
        """:meth:`plan` against tables already parsed."""
        desired = ruleset.tables.get(family, {})
        out: list[str] = []
        for name in TABLES:
            lines = self._plan_table(desired.get(name), current.get(name))
            if lines:
                out += [f"*{name}", *lines, "COMMIT"]
        return out

    def _plan_table(self, want: Table | None, have: SavedTable | None) -> list[str]:
        have = have or SavedTable()
        want_chains = want.chains if want else {}
        existing = set(have.chains)
        builtins = BUILTIN_CHAINS[want.name] if want else ()
        declares, rules, flushes, deletes = [], [], [], []
        for chain, spec in want_chains.items():
            if chain in builtins:
                continue
            if chain not in existing:
                declares.append(f":{chain} - [0:0]")
                rules += [f"-A {chain} {r}" for r in spec.rules]
            elif self._ours(chain):
                rules += _diff_owned_chain(chain, have.rules.get(chain, []), spec.rules)
        for chain, saved_rules in have.rules.items():
            if self._ours(chain):
                continue
            spec = want_chains.get(chain, Chain())
            if chain not in want_chains and not any(map(self._our_rule, saved_rules)):
                continue
            rules += self._shared_chain_commands(chain, saved_rules, spec)
        for chain, spec in want_chains.items():
            if chain in builtins and chain not in have.rules and spec.rules:
                rules += self._shared_chain_commands(chain, [], spec)
        for chain in have.chains:
            if self._ours(chain) and chain not in want_chains:
                flushes.append(f"-F {chain}")
                deletes.append(f"-X {chain}")
        return declares + rules + flushes + deletes

    def _shared_chain_commands(self, chain: str, saved: list[str], spec: Chain) -> list[str]:
        """Our rules in a chain others use too: rewritten only if they differ."""
        mine = [r for r in saved if self._our_rule(r)]
        if [rule_key(r) for r in mine] == [rule_key(r) for r in spec.rules]:
            return []
        out = [f"-D {chain} {r}" for r in mine]
        out += [f"-I {chain} 1 {r}" for r in reversed(spec.top)]
        out += [f"-A {chain} {r}" for r in spec.bottom]
        return out

    def apply(self, ruleset: Ruleset | None = None, verify: bool = False) -> dict[str, list[str]]:
        """Make the kernel match ``ruleset`` (default: the last one applied).

        Plans against the memory when there is one, else (and always with
        ``verify``) against iptables-save. Returns, per family, the restore
        lines that were applied (empty when nothing differed, in which case
        no restore ran).
        """
        if ruleset is not None:
            self.desired = ruleset
        families = list(self.desired.families)
        if len(families) == 1:
            return {families[0]: self._apply_family(families[0], verify)}
        # IPv4 and IPv6 are separate tables and separate commands: apply them
        # side by side (each an iptables-restore, after an iptables-save when read).
        with ThreadPoolExecutor(max_workers=len(families)) as pool:
            futures = {family: pool.submit(self._apply_family, family, verify)
                       for family in families}
        return {family: future.result() for family, future in futures.items()}

    def _apply_family(self, family: str, verify: bool) -> list[str]:
        # Taken out of the memory: until this batch is known to have landed
        # (any exception included), the family is unknown.
        known = None if verify else self._known.pop(family, None)
        current = known if known is not None else parse_save(self.save(family))
        lines = self.plan_against(self.desired, family, current)
        if lines:
            try:
                self._restore(family, lines)
            except IptablesApplyError:
                if known is None:
                    raise
                LOG.warning("%s refused a batch planned from memory%s (changed by someone "
                            "else?): planning again from the kernel", RESTORE_CMD[family],
                            f" in {self.netns}" if self.netns else "")
                return self._apply_family(family, verify=True)
            current = replay(current, lines)
        if self.remember and current is not None:
            self._known[family] = current
        return lines

    def _restore(self, family: str, lines: list[str]) -> None:
        text = "\n".join(lines) + "\n"
        try:
            self._runner([RESTORE_CMD[family], "-n", "-w", "10"], text)
        except CommandFailed as exc:
            bad = _failing_line(exc.stderr, lines)
            LOG.error("%s failed%s: %s\nfailing line: %s", RESTORE_CMD[family],
                      f" in {self.netns}" if self.netns else "", exc.stderr, bad)
            reason = exc.stderr.splitlines()[0] if exc.stderr else str(exc)
            raise IptablesApplyError(
                f"{RESTORE_CMD[family]} refused line {bad!r}: {reason}") from exc

    def chain_rules(self, family: str, table: str) -> dict[str, list[str]]:
        """The live rules of ``table`` (all chains), parsed from iptables-save."""
        tables = parse_save(self.save(family))
        if self.remember:
            self._known[family] = tables
        saved = tables.get(table)
        return saved.rules if saved else {}


def _failing_line(stderr: str, lines: list[str]) -> str:
    """The restore input line iptables-restore complained about, if it says."""
    match = re.search(r"line:? (\d+)", stderr or "")
    if match:
        n = int(match.group(1))
        if 1 <= n <= len(lines):
            return lines[n - 1]
    return "?"
