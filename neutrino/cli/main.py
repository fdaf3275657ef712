"""Entry point of the ``neutrino`` command.

Each sub-command lives in its own module ``neutrino.cli.<name>`` exposing
``main(argv) -> int``. Only the chosen module is imported, so an agent started
by the lab does not pay for the API server's imports.
"""
import importlib
import os
import sys

from neutrino.errors import NeutrinoError

COMMANDS = {
    "server": ("neutrino.cli.server", "run the Networking API v2.0 server"),
    "agent": ("neutrino.cli.agent", "run an agent (ovs, dhcp, l3, metadata) on this host"),
    "lab": ("neutrino.cli.lab", "a cloud on this machine: up, down, status, exec, break, heal"),
    "instance": ("neutrino.cli.instance", "boot, list, enter and delete lab instances"),
    "topo": ("neutrino.cli.topo", "the live topology of a lab (text, dot, svg, json) and DB/node differences"),
    "capture": ("neutrino.cli.capture", "decoded live packets at one hop of an instance's path"),
    "web": ("neutrino.cli.web", "the live topology diagram and explain paths in a browser"),
    "explain": ("neutrino.cli.explain", "the hops a packet takes between two endpoints, and why it is dropped"),
}


def usage() -> str:
    lines = ["usage: neutrino COMMAND [ARGS...]", "", "commands:"]
    for name, (_, text) in COMMANDS.items():
        lines.append(f"  {name:<10} {text}")
    lines.append("")
    lines.append("`neutrino COMMAND --help` tells more.")
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"neutrino: error: unknown command {name!r} (try `neutrino --help`)",
              file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    try:
        return module.main(rest) or 0
    except NeutrinoError as exc:
        print(f"neutrino {name}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader went away (`neutrino ... | head`): stop quietly, as cat does
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
