import os
import queue
import uuid

import pytest

from neutrino.agents.dhcp.link_watch import LinkWatcher
from neutrino.errors import NeutrinoError
from neutrino.linux import ip, proc

pytestmark = pytest.mark.dataplane


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
