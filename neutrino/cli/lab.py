"""``neutrino lab up|down|status|exec|openrc``: a whole cloud on this machine."""
from __future__ import annotations

import argparse
import json
import os

from neutrino.errors import NeutrinoError
from neutrino.lab.layout import DEFAULT_LAB, Lab


def _lab_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", default=None, help=f"lab name (default: {DEFAULT_LAB})")
    p.add_argument("--state-dir", default=None,
                   help="state directory (default: /var/lib/neutrino/labs/NAME)")


def parser(command_after_dashes: bool = False) -> argparse.ArgumentParser:
    """With ``command_after_dashes`` the exec command came after ``--`` and
    options may follow the node name; otherwise everything after it is the command."""
    ap = argparse.ArgumentParser(prog="neutrino lab", description=__doc__)
    sub = ap.add_subparsers(dest="action", required=True)
    p = sub.add_parser("up", help="bring the lab up (idempotent)")
    _lab_args(p)
    p.add_argument("--computes", type=int, default=2, help="compute nodes (default 2)")
    p.add_argument("--no-agents", action="store_true", help="do not start the agents")
    p.add_argument("--no-server", action="store_true",
                   help="do not start the server (implies --no-agents)")
    p.add_argument("--timeout", type=float, default=90,
                   help="seconds to wait for the server and agents (default 90)")
    p.add_argument("--state-on-disk", action="store_true",
                   help="keep a new state directory on disk (default: a tmpfs, in memory)")
    p = sub.add_parser("down", help="remove everything of the lab")
    _lab_args(p)
    p.add_argument("--all", action="store_true", help="every lab on this machine")
    p = sub.add_parser("status", help="nodes, daemons, agents")
    _lab_args(p)
    p.add_argument("-f", "--format", choices=("table", "json"), default="table")
    p = sub.add_parser("openrc", help="DevStack's `export OS_...` lines for admin or demo "
                                      '(eval "$(neutrino lab openrc demo)")')
    _lab_args(p)
    p.add_argument("user", help="admin or demo")
    p = sub.add_parser("exec", help="run a command on a node (a shell without one)")
    _lab_args(p)
    p.add_argument("node")
    p.add_argument("cmd", nargs="*" if command_after_dashes else argparse.REMAINDER)
    p = sub.add_parser("break", help="inject a known fault (see `lab break list`)")
    _lab_args(p)
    p.add_argument("fault")
    p.add_argument("target", nargs="?")
    p = sub.add_parser("heal", help="undo the faults `lab break` injected")
    _lab_args(p)
    return ap


def split_command(argv: list[str]) -> tuple[list[str], list[str] | None]:
    """Options before ``--``, the command after it (None without ``--``)."""
    if "--" in argv:
        at = argv.index("--")
        return argv[:at], argv[at + 1:]
    return argv, None


def main(argv: list[str]) -> int:
    argv, command = split_command(list(argv))
    args = parser(command is not None).parse_args(argv)
    if command is not None:
        if args.action != "exec":
            raise NeutrinoError(f"`lab {args.action}` takes no command after --")
        args.cmd = [*args.cmd, *command]
    lab = Lab.locate(args.name, args.state_dir)
    if args.action == "up":
        from neutrino.lab import lifecycle
        lifecycle.up(lab, computes=args.computes, server=not args.no_server,
                     agents=not args.no_agents, timeout=args.timeout,
                     say=lambda text: print(text, flush=True),
                     state_in_memory=not args.state_on_disk)
        return 0
    if args.action == "down":
        return _down(lab, args.all)
    if args.action == "status":
        return _status(lab, args.format)
    if args.action == "openrc":
        from neutrino.lab import accounts
        print(accounts.openrc(lab, args.user), end="")
        return 0
    if args.action in ("break", "heal"):
        from neutrino.diagnose import faults
        return faults.run_cli(lab, args)
    return _exec(lab, args.node, args.cmd)


def _down(lab: Lab, everything: bool) -> int:
    from neutrino.lab import teardown
    labs = [lab]
    if everything:
        labs = [Lab.locate(name) for name in sorted(teardown.known_labs())]
    for one in labs:
        teardown.down(one, say=print)
        print(f"lab {one.name} is down")
    if everything and not labs:
        print("no lab on this machine")
    return 0


def _status(lab: Lab, fmt: str) -> int:
    from neutrino.lab import lifecycle
    st = lifecycle.status(lab)
    if fmt == "json":
        print(json.dumps(st, indent=1))
        return 0
    print(f"lab {st['name']}  endpoint {st['endpoint']}  identity {st['identity_url']}  "
          f"state {st['state_dir']}")
    print("nodes:")
    for n in st["nodes"]:
        def word(pid):
            return f"alive ({pid})" if pid else "dead"
        print(f"  {n['name']:<11} {'up' if n['up'] else 'MISSING':<8} tunnel {n['tunnel_ip']:<12}"
              f" ovsdb-server {word(n['ovsdb-server'])}, ovs-vswitchd {word(n['ovs-vswitchd'])}")
    up = st["upstream"]
    print(f"  {'upstream':<11} {'up' if up['up'] else 'MISSING':<8} gateway {up['gateway']},"
          f" Internet host {up['internet_host']} (lab exec upstream)")
    print("daemons:")
    for d in st["daemons"]:
        print(f"  {d['name']:<24} {'alive' if d['alive'] else 'DEAD':<6} pid {d['pid']}")
    agents = st["agents"]
    if isinstance(agents, list):
        print("agents (from the API):")
        for a in sorted(agents, key=lambda a: (a["host"] or "", a["agent_type"] or "")):
            print(f"  {a['host']:<11} {a['agent_type']:<20} "
                  f"{'alive' if a['alive'] else 'DEAD':<6} last report {a['heartbeat']}")
    elif agents:
        print(f"agents: {agents}")
    return 0


def _exec(lab: Lab, node: str, cmd: list[str]) -> int:
    from neutrino.lab import node as lab_node
    interactive = not cmd
    if interactive:
        cmd = [os.environ.get("SHELL") or "/bin/bash"]
    argv = lab_node.exec_argv(lab, node, cmd)
    if interactive:
        print(f"entering {node} of lab {lab.name} (exit to leave)")
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        raise NeutrinoError(f"cannot run {argv[0]}: {exc.strerror}") from None
