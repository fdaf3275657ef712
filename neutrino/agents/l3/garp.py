"""Gratuitous ARP from a device inside a namespace, with a raw packet socket.

Neutron runs ``arping -U`` then ``arping -A`` three times, 2 s apart, after an
address lands on qg-/qr-. The same announcements are sent here without a
helper program: an AF_PACKET socket opened inside the router namespace (by
switching only the sending thread with setns), an ARP request and an ARP
reply per round, the first round at once.
"""
from __future__ import annotations

import ipaddress
import logging
import socket
import struct
import threading

from neutrino.errors import NeutrinoError
from neutrino.linux.ip import made_in

LOG = logging.getLogger(__name__)

ETH_P_ARP = 0x0806
BROADCAST = b"\xff" * 6
ROUNDS = 3
INTERVAL = 2.0


def arp_frame(mac: str, ip: str, op: int) -> bytes:
    """An Ethernet broadcast ARP frame announcing ``ip`` at ``mac`` (op 1 request, 2 reply)."""
    hw = bytes.fromhex(mac.replace(":", ""))
    addr = ipaddress.IPv4Address(ip).packed
    target_hw = BROADCAST if op == 2 else b"\x00" * 6
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, op, hw, addr, target_hw, addr)
    return BROADCAST + hw + struct.pack("!H", ETH_P_ARP) + arp


def _packet_socket(netns: str | None, device: str) -> socket.socket:
    def make():
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
        sock.bind((device, ETH_P_ARP))
        return sock
    return made_in(netns, make)


def send_once(netns: str | None, device: str, mac: str, ips: list[str]) -> None:
    sock = _packet_socket(netns, device)
    try:
        for ip in ips:
            for op in (1, 2):
                sock.send(arp_frame(mac, ip, op))
    finally:
        sock.close()


def announce(netns: str | None, device: str, mac: str, ips: list[str],
             stop: threading.Event | None = None, rounds: int = ROUNDS,
             interval: float = INTERVAL) -> threading.Thread:
    """Send ``rounds`` announcements of ``ips`` from ``device`` in a background thread."""
    stop = stop or threading.Event()

    def run():
        for i in range(rounds):
            if i and stop.wait(interval):
                return
            try:
                send_once(netns, device, mac, ips)
            except (OSError, NeutrinoError) as exc:    # the router may be gone meanwhile
                LOG.warning("gratuitous ARP for %s on %s failed: %s", ips, device, exc)
                return
    thread = threading.Thread(target=run, name=f"garp-{device}", daemon=True)
    thread.start()
    return thread
