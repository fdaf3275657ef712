"""``neutrino instance create|list|exec|delete``: lab instances (the Nova role)."""
from __future__ import annotations

import argparse
import json
import os
import urllib.parse

from neutrino.errors import NeutrinoError
from neutrino.cli.lab import split_command
from neutrino.lab import accounts, instances
from neutrino.lab.layout import DEFAULT_LAB, Lab


def parser(command_after_dashes: bool = False) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="neutrino instance", description=__doc__)
    sub = ap.add_subparsers(dest="action", required=True)

    def lab_args(p):
        p.add_argument("--name", dest="lab", default=None,
                       help=f"lab name (default: {DEFAULT_LAB})")
        p.add_argument("--state-dir", default=None, help="the lab's state directory")

    p = sub.add_parser("create", help="boot instances on lab nodes (several: in parallel)")
    p.add_argument("instance", nargs="+")
    p.add_argument("--network", required=True, help="network name or id")
    p.add_argument("--host", default=None, help="node (default: the least busy compute)")
    p.add_argument("--ip", default=None, help="fixed IP to ask for (one instance only)")
    p.add_argument("--project", default=None, metavar="NAME_OR_ID",
                   help="the project that owns the instance's port, as Nova creates it"
                        " (default: the lab admin's)")
    p.add_argument("--vif-timeout", type=float, default=10,
                   help="seconds to wait for the port to turn ACTIVE (0: do not wait)")
    lab_args(p)
    p = sub.add_parser("list", help="list the lab's instances")
    p.add_argument("-f", "--format", choices=("table", "json"), default="table")
    lab_args(p)
    p = sub.add_parser("exec", help="run a command inside an instance (a shell without one)")
    p.add_argument("instance")
    p.add_argument("cmd", nargs="*" if command_after_dashes else argparse.REMAINDER)
    lab_args(p)
    p = sub.add_parser("delete", help="remove an instance, its devices and its port")
    p.add_argument("instance", nargs="+")
    lab_args(p)
    return ap


def main(argv: list[str]) -> int:
    argv, command = split_command(list(argv))
    args = parser(command is not None).parse_args(argv)
    if command is not None:
        if args.action != "exec":
            raise NeutrinoError(f"`instance {args.action}` takes no command after --")
        args.cmd = [*args.cmd, *command]
    lab = Lab.locate(args.lab, args.state_dir)
    if args.action == "create":
        if args.ip and len(args.instance) > 1:
            raise NeutrinoError("--ip needs a single instance name")
        project_id = project_of(lab, args.project) if args.project is not None else None
        if len(args.instance) == 1:
            created = [instances.create(lab, args.instance[0], args.network, host=args.host,
                                        fixed_ip=args.ip, vif_timeout=args.vif_timeout,
                                        project_id=project_id)]
        else:
            created = instances.create_many(lab, args.instance, args.network, host=args.host,
                                            vif_timeout=args.vif_timeout,
                                            project_id=project_id)
        for inst in created:
            print(f"instance {inst['name']} on {inst['host']}: port {inst['port_id']}, "
                  f"ips {', '.join(inst['ips'])}, mac {inst['mac']}")
        return 0
    if args.action == "list":
        rows = instances.listing(lab)
        if args.format == "json":
            print(json.dumps(rows, indent=1))
        else:
            print(f"{'name':<12} {'host':<11} {'status':<8} {'ips':<16} {'lease':<16} port")
            for r in rows:
                print(f"{r['name']:<12} {r['host']:<11} {r['status']:<8} "
                      f"{','.join(r['ips']):<16} {r['lease'] or '-':<16} {r['port']}")
        return 0
    if args.action == "delete":
        for name in args.instance:
            instances.delete(lab, name)
            print(f"instance {name} deleted")
        return 0
    cmd = args.cmd or [os.environ.get("SHELL") or "/bin/sh"]
    argv = instances.exec_argv(lab, args.instance, cmd)
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        raise NeutrinoError(f"cannot run {argv[0]}: {exc.strerror}") from None


def project_of(lab: Lab, name_or_id: str) -> str:
    """The id of the lab's Keystone project ``name_or_id`` (asked as the lab admin).

    Plain http.client, as the lab's API client: ``instance create`` stays quick.
    """
    if not name_or_id or "/" in name_or_id:
        raise NeutrinoError(f"bad project name or id {name_or_id!r}")
    creds = accounts.credentials(lab, "admin")
    found = creds.get_json(f"/projects/{urllib.parse.quote(name_or_id)}")
    if found is not None:
        return found["project"]["id"]
    query = urllib.parse.urlencode({"name": name_or_id})
    projects = (creds.get_json(f"/projects?{query}") or {}).get("projects", [])
    if not projects:
        raise NeutrinoError(f"no project {name_or_id!r} in lab {lab.name}")
    if len(projects) > 1:
        raise NeutrinoError(f"{len(projects)} projects are called {name_or_id!r}: use the id")
    return projects[0]["id"]
