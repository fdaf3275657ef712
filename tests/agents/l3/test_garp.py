import logging
import secrets
import struct

from neutrino.agents.l3.garp import announce, arp_frame


def test_gratuitous_arp_request_and_reply_frames():
    mac, ip = "fa:16:3e:aa:00:01", "172.24.4.20"
    hw = bytes.fromhex("fa163eaa0001")
    addr = bytes([172, 24, 4, 20])
    for op, target_hw in ((1, b"\x00" * 6), (2, b"\xff" * 6)):
        frame = arp_frame(mac, ip, op)
        assert frame[:6] == b"\xff" * 6 and frame[6:12] == hw
        assert struct.unpack("!H", frame[12:14])[0] == 0x0806
        htype, ptype, hlen, plen, got_op, sha, spa, tha, tpa = struct.unpack(
            "!HHBBH6s4s6s4s", frame[14:])
        assert (htype, ptype, hlen, plen, got_op) == (1, 0x0800, 6, 4, op)
        assert (sha, spa, tha, tpa) == (hw, addr, target_hw, addr)


def test_announcing_into_a_namespace_gone_meanwhile_only_warns(caplog):
    """A router deleted between two rounds: the thread logs and ends, it does not raise."""
    gone = "qrouter-" + secrets.token_hex(4)
    with caplog.at_level(logging.WARNING, logger="neutrino.agents.l3.garp"):
        announce(gone, "qg-x", "fa:16:3e:aa:00:01", ["172.24.4.20"], rounds=1).join(5)
    assert f"no network namespace {gone!r}" in caplog.text
