"""The lab's "Internet host": answers HTTP with the source address it saw.

Runs in the upstream namespace (issue 4) so a test or a user can check SNAT
and floating IPs: ``curl http://203.0.113.10/`` from an instance prints
``you are 192.168.100.x``.
"""
from __future__ import annotations

import argparse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    server_version = "neutrino-upstream/1"

    def do_GET(self):  # noqa: N802 - the name http.server calls
        body = f"you are {self.client_address[0]}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        print(f"{self.client_address[0]} {fmt % args}", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m neutrino.lab.responder")
    ap.add_argument("--address", default="0.0.0.0")
    ap.add_argument("--port", type=int, default=80)
    args = ap.parse_args(argv)
    ThreadingHTTPServer((args.address, args.port), Handler).serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
