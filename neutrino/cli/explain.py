"""``neutrino explain SRC DST``: the hops a packet takes, and where it is dropped.

SRC is an instance (name or fixed IP). DST is an instance, a fixed IP,
``dhcp`` (the DHCP server of SRC's network), a floating IP or an outside
address. With --live a real probe is sent from SRC and captured at every
hop to show where it was last seen.
"""
from __future__ import annotations

import argparse
import json

from neutrino.lab.layout import DEFAULT_LAB, Lab


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="neutrino explain", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--name", default=None, help=f"lab name (default: {DEFAULT_LAB})")
    ap.add_argument("--state-dir", default=None)
    ap.add_argument("--proto", default="icmp", choices=("icmp", "tcp", "udp"))
    ap.add_argument("--port", type=int, default=None, help="destination port (tcp, udp)")
    ap.add_argument("--json", action="store_true", help="one JSON object")
    ap.add_argument("--live", action="store_true",
                    help="also send a real probe and capture it at every hop")
    return ap


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    lab = Lab.locate(args.name, args.state_dir)
    from neutrino.diagnose import explain
    exp = explain.explain(lab, args.src, args.dst, args.proto, args.port)
    live = None
    if args.live:
        from neutrino.diagnose import live as live_mod
        live = live_mod.probe(lab, exp)
    if args.json:
        out = exp.to_json()
        if live is not None:
            out["live"] = live
        print(json.dumps(out, indent=1))
    else:
        print(exp.to_text())
        if live is not None:
            from neutrino.diagnose import live as live_mod
            print(live_mod.to_text(live))
    return 0 if exp.verdict == "delivered" else 3
