"""How fast `neutrino explain` answers for every pair of the demo lab.

    .venv/bin/python bench/explain.py [--name LAB]

With --name it measures a running lab; without, it brings up the demo's
cloud in a lab of its own (random name) and takes it down afterwards. For
each pair it prints the wall time of the whole command (interpreter start
included) and the time of the answer itself, then the worst of each; it
exits 1 when an answer took 2 s or more.
"""
import argparse
import itertools
import json
import os
import secrets
import subprocess
import sys
import time

BIN = os.path.join(os.path.dirname(sys.executable), "neutrino")
LIMIT = 2.0
OUTSIDE = "203.0.113.10"      # the upstream's Internet host


def pairs(lab: str) -> list[tuple[str, str, list[str]]]:
    names = [i["name"] for i in json.loads(subprocess.run(
        [BIN, "instance", "list", "--name", lab, "-f", "json"], capture_output=True,
        text=True, check=True).stdout)]
    out = [(a, b, []) for a, b in itertools.permutations(names, 2)]
    out += [(a, "dhcp", ["--proto", "udp", "--port", "67"]) for a in names]
    # the way out and in, where the lab has its upstream (issue 4)
    out += [(a, OUTSIDE, []) for a in names] + [(OUTSIDE, a, []) for a in names]
    return out


def measure(lab: str) -> int:
    rows = []
    for src, dst, extra in pairs(lab):
        t0 = time.monotonic()
        res = subprocess.run([BIN, "explain", "--name", lab, src, dst, "--json", *extra],
                             capture_output=True, text=True)
        wall = time.monotonic() - t0
        out = json.loads(res.stdout) if res.stdout else {"verdict": "error", "elapsed": 0.0}
        rows.append((src, dst, out["verdict"], wall, out["elapsed"]))
        print(f"{src:>12} -> {dst:<12} {out['verdict']:<10} command {wall:5.2f} s   "
              f"answer {out['elapsed']:5.2f} s", flush=True)
    worst_wall = max(r[3] for r in rows)
    worst = max(r[4] for r in rows)
    print(f"{len(rows)} pairs: worst command {worst_wall:.2f} s, worst answer {worst:.2f} s "
          f"(limit {LIMIT:.0f} s)")
    return 0 if worst < LIMIT else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--name", help="a running lab (default: a fresh demo lab)")
    args = ap.parse_args()
    if args.name:
        return measure(args.name)
    lab = f"b{secrets.token_hex(4)}"
    try:
        subprocess.run([sys.executable, "-m", "neutrino.lab.demo", lab], check=True,
                       stdout=subprocess.DEVNULL)
        return measure(lab)
    finally:
        subprocess.run([BIN, "lab", "down", "--name", lab], stdout=subprocess.DEVNULL)


if __name__ == "__main__":
    sys.exit(main())
