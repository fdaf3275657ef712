"""``neutrino capture INSTANCE --hop HOP``: decoded live packets at one hop of its path."""
from __future__ import annotations

import argparse

from neutrino.lab.layout import DEFAULT_LAB, Lab

HOPS = ("tap", "qbr", "qvb", "qvo", "patch", "vxlan", "qr", "qg", "br-ex", "em4")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="neutrino capture", description=__doc__)
    ap.add_argument("instance")
    ap.add_argument("--name", default=None, help=f"lab name (default: {DEFAULT_LAB})")
    ap.add_argument("--state-dir", default=None)
    ap.add_argument("--hop", default="tap", choices=HOPS)
    ap.add_argument("--count", type=int, default=10, help="packets (default 10)")
    ap.add_argument("--timeout", type=float, default=10, help="seconds (default 10)")
    args = ap.parse_args(argv)
    from neutrino.diagnose import capture
    return capture.capture(Lab.locate(args.name, args.state_dir), args.instance, args.hop,
                           args.count, args.timeout)
