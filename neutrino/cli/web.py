"""``neutrino web``: the lab's live topology and explain paths in a browser."""
from __future__ import annotations

import argparse

from neutrino.errors import NeutrinoError
from neutrino.lab.layout import DEFAULT_LAB, Lab


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="neutrino web", description=__doc__)
    ap.add_argument("--name", default=None, help=f"lab name (default: {DEFAULT_LAB})")
    ap.add_argument("--state-dir", default=None)
    ap.add_argument("--bind", default="127.0.0.1:9700", help="HOST:PORT (default 127.0.0.1:9700)")
    args = ap.parse_args(argv)
    host, _, port = args.bind.rpartition(":")
    if not host or not port.isdigit():
        raise NeutrinoError(f"bad --bind {args.bind!r}: HOST:PORT")
    import uvicorn
    from neutrino.web.app import create_app
    lab = Lab.locate(args.name, args.state_dir)
    print(f"neutrino web: lab {lab.name} on http://{host}:{port}/", flush=True)
    uvicorn.run(create_app(lab), host=host, port=int(port), log_level="warning")
    return 0
