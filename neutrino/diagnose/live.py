"""``explain --live``: a real probe from SRC, captured at every hop that is a device.

tcpdump runs at each capturable hop of the explanation (the instances' eth0,
tap/qbr/qvb/qvo, the qdhcp tap, the underlay NIC for the VXLAN hop); once
every capture listens, SRC sends the probe (ping, or busybox nc for tcp/udp);
when the probe command ends the captures are stopped and each hop says
whether the probe (forward hops) or its answer (reply hops) passed there.
OpenFlow-only hops (br-int, br-tun tables) have no device and are not
captured; ``neutrino capture --hop patch`` mirrors them on demand.
"""
from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import time

from neutrino.diagnose.capture import Where, tcpdump_argv
from neutrino.diagnose.path import Explanation
from neutrino.lab import instances
from neutrino.lab.layout import Lab

LISTEN_TIMEOUT = 5


def _where(hop: dict) -> Where | None:
    dev, node = hop["device"], hop["node"]
    if dev == "eth0":
        return Where(None, "eth0", instance=node)
    if dev == "br-phy":
        return Where(node, "eth1", bpf="udp port 4789")
    if (hop.get("detail") or {}).get("netns"):
        return Where(node, dev, netns=hop["detail"]["netns"])
    if dev[:3] in ("tap", "qbr", "qvb", "qvo"):
        return Where(node, dev)
    return None


def _probe_cmd(dst_ip: str, proto: str, port: int | None) -> list[str]:
    if proto == "icmp":
        cmd = ["ping", "-c", "2", "-i", "0.2", "-W", "1", dst_ip]
    elif proto == "udp":
        cmd = ["sh", "-c", f"echo neutrino-probe | busybox nc -u -w 1 {dst_ip} {port}"]
    else:
        cmd = ["busybox", "nc", "-w", "1", dst_ip, str(port)]
    return cmd


def _wait_listening(procs: list[subprocess.Popen]) -> None:
    """Bounded wait until each tcpdump printed "listening on" (or died)."""
    pending = {p.stderr.fileno(): p for p in procs}
    buffers = {fd: b"" for fd in pending}
    deadline = time.monotonic() + LISTEN_TIMEOUT
    while pending and time.monotonic() < deadline:
        ready, _, _ = select.select(list(pending), [], [], deadline - time.monotonic())
        for fd in ready:
            chunk = pending[fd].stderr.read1(4096) if hasattr(pending[fd].stderr, "read1") \
                else b""
            buffers[fd] += chunk
            if b"listening on" in buffers[fd] or not chunk:
                del pending[fd]


def probe(lab: Lab, exp: Explanation) -> dict:
    data = exp.to_json()
    hops = data["hops"]
    src_inst, src_ip, dst_ip = exp.src, exp.src_ip, exp.dst_ip
    points, procs = [], {}
    for hop in hops:
        where = _where(hop)
        if where is None:
            continue
        key = (where.node, where.device, where.netns, where.instance)
        if key not in procs:
            procs[key] = subprocess.Popen(tcpdump_argv(lab, where, None), stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE)
        points.append((hop, key))
    _wait_listening(list(procs.values()))
    # The probe, or the ARP request it needs first (a broken path often ends there).
    fwd = re.compile(rf"{re.escape(src_ip)}(\.\d+)? > {re.escape(dst_ip)}(\.\d+)?:"
                     rf"|who-has {re.escape(dst_ip)} tell {re.escape(src_ip)}\b")
    back = re.compile(rf"{re.escape(dst_ip)}(\.\d+)? > {re.escape(src_ip)}(\.\d+)?:"
                      rf"|Reply {re.escape(dst_ip)} is-at")
    cmd = _probe_cmd(dst_ip, exp.proto, exp.port)
    t0 = time.monotonic()
    res = subprocess.run(instances.exec_argv(lab, src_inst, cmd), capture_output=True,
                         text=True, timeout=15)
    took = time.monotonic() - t0
    texts = _drain(procs, points, fwd, back)
    result, last = [], None
    for hop, key in points:
        pattern = fwd if hop["direction"] == "forward" else back
        seen = len(pattern.findall(texts[key]))
        result.append({"hop": hop["n"], "node": hop["node"], "device": hop["device"],
                       "direction": hop["direction"], "seen": seen})
        if seen:
            last = result[-1]
    return {"probe": " ".join(cmd),
            "probe_exit": res.returncode, "probe_seconds": round(took, 2),
            "points": result, "last_seen": last}


def _drain(procs: dict, points: list, fwd, back, grace: float = 1.0) -> dict:
    """Read what the captures printed; tcpdump may print the last packets a little
    after the probe returned, so read (bounded) until every hop of a direction saw
    as many packets as the busiest one, then stop them."""
    texts = {key: "" for key in procs}
    deadline = time.monotonic() + grace
    while True:
        fds = {p.stdout.fileno(): key for key, p in procs.items()}
        ready, _, _ = select.select(list(fds), [], [], max(0.0, min(0.05, deadline - time.monotonic())))
        for fd in ready:
            texts[fds[fd]] += os.read(fd, 65536).decode(errors="replace")
        counts = {}
        for hop, key in points:
            pattern = fwd if hop["direction"] == "forward" else back
            counts.setdefault(hop["direction"], []).append(len(pattern.findall(texts[key])))
        settled = counts and all(min(c) == max(c) > 0 for c in counts.values())
        if settled or time.monotonic() >= deadline:
            break
    for key, p in procs.items():
        p.send_signal(signal.SIGINT)
        try:
            out, _ = p.communicate(timeout=3)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
        texts[key] += out.decode(errors="replace")
    return texts


def to_text(live: dict) -> str:
    lines = [f"live probe: {live['probe']} (exit {live['probe_exit']}, "
             f"{live['probe_seconds']} s)"]
    for p in live["points"]:
        lines.append(f"  hop {p['hop']:3d} {p['node']:<11} {p['device']:<16} {p['direction']:<8}"
                     f" {'seen x' + str(p['seen']) if p['seen'] else 'NOT SEEN'}")
    last = live["last_seen"]
    lines.append(f"last seen at hop {last['hop']} ({last['node']} {last['device']})" if last
                 else "the probe was seen nowhere")
    return "\n".join(lines)
