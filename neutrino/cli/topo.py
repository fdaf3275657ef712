"""``neutrino topo``: the live topology of a lab, read from the nodes."""
from __future__ import annotations

import argparse
import json

from neutrino.lab.layout import DEFAULT_LAB, Lab


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="neutrino topo", description=__doc__)
    ap.add_argument("--name", default=None, help=f"lab name (default: {DEFAULT_LAB})")
    ap.add_argument("--state-dir", default=None)
    ap.add_argument("--node", default=None, help="only this node")
    ap.add_argument("--format", default="text", choices=("text", "dot", "svg", "json"))
    args = ap.parse_args(argv)
    from neutrino.diagnose import snapshot, topo
    data = topo.build(snapshot.take(Lab.locate(args.name, args.state_dir)), args.node)
    if args.format == "json":
        print(json.dumps(data, indent=1))
    elif args.format == "dot":
        print(topo.to_dot(data))
    elif args.format == "svg":
        print(topo.to_svg(data))
    else:
        print(topo.to_text(data))
    return 0
