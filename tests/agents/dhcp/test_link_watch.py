import os
import queue
import struct
import uuid

import pytest

from neutrino.agents.dhcp.link_watch import LinkWatcher, new_link_names
from neutrino.errors import NeutrinoError
from neutrino.linux import ip, proc


@pytest.fixture
def netns():
    if os.geteuid() != 0:
        pytest.skip("needs root")
    name = f"ntdhcp-lw-{uuid.uuid4().hex[:8]}"
    ip.netns_add(name)
    try:
        yield name
    finally:
        ip.netns_delete(name)


@pytest.mark.dataplane
def test_new_tap_devices_are_reported(netns):
    got = queue.Queue()
    watcher = LinkWatcher(got.put, netns=netns)
    try:
        proc.run(["ip", "link", "add", "tapaa", "type", "veth", "peer", "name", "qvobb"],
                 netns=netns)
        assert got.get(timeout=5) == "tapaa"
        proc.run(["ip", "link", "set", "qvobb", "up"], netns=netns)
        with pytest.raises(queue.Empty):
            while True:
                assert got.get(timeout=0.3) == "tapaa"
    finally:
        watcher.stop()


def test_missing_namespace_is_a_clear_error():
    with pytest.raises(NeutrinoError, match="cannot watch links"):
        LinkWatcher(lambda name: None, netns=f"ntdhcp-none-{uuid.uuid4().hex[:8]}")


def netlink_message(msg_type, name):
    attr_data = name.encode() + b"\0"
    attr = struct.pack("=HH", 4 + len(attr_data), 3) + attr_data
    attr += b"\0" * (-len(attr) % 4)
    mtu = struct.pack("=HHI", 8, 4, 1500)
    body = b"\0" * 16 + mtu + attr
    return struct.pack("=IHHII", 16 + len(body), msg_type, 0, 0, 0) + body


def test_parse_new_link_names():
    data = netlink_message(16, "tap3e399bf2-31") + netlink_message(17, "tapgone") + \
        netlink_message(16, "br-int")
    assert new_link_names(data) == ["tap3e399bf2-31", "br-int"]
    assert new_link_names(b"") == []
