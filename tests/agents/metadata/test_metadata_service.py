"""The metadata service on a real unix socket, resolving through a fake q-l3-plugin over memory://."""
import http.client
import json
import socket
import time
import uuid

import pytest

from neutrino.agents.metadata.service import MetadataService, Resolver
from neutrino.rpc import RpcClient, RpcServer

from tests.agents.l3.fakes import ROUTER, VM_PORT, FakeL3Plugin, router


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=5)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(self.path)


def get(sock_path, path, headers):
    conn = UnixHTTPConnection(sock_path)
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@pytest.fixture
def plugin():
    return FakeL3Plugin([router()])


@pytest.fixture
def service(tmp_path, plugin):
    url = f"memory://metadata-{uuid.uuid4().hex[:8]}"
    plugin.metadata_ports[(ROUTER, "10.0.0.57")] = [
        {"port_id": VM_PORT, "device_id": "inst-57", "project_id": "p1",
         "network_id": "int-net", "name": "vm1"}]
    plugin.metadata_ports[(ROUTER, "10.0.0.58")] = [
        {"port_id": "other-port", "device_id": "inst-58", "project_id": "p1",
         "network_id": "int-net", "name": "vm2"}]
    plugin.metadata_ports[(ROUTER, "10.0.0.99")] = [
        {"port_id": "a", "device_id": "x", "project_id": "p", "network_id": "n", "name": "a"},
        {"port_id": "b", "device_id": "y", "project_id": "p", "network_id": "n", "name": "b"}]
    server = RpcServer(url, "q-l3-plugin", plugin).start()
    client = RpcClient(url, "q-l3-plugin", timeout=5)
    path = str(tmp_path / "metadata_proxy")
    svc = MetadataService(path, Resolver(client.call, "controller")).start()
    try:
        yield path
    finally:
        svc.stop()
        client.close()
        server.stop()


def headers(ip, router_id=ROUTER):
    out = {"X-Forwarded-For": ip}
    if router_id:
        out["X-Neutron-Router-ID"] = router_id
    return out


def test_answers_for_the_asking_instance(service):
    assert get(service, "/latest/meta-data/instance-id", headers("10.0.0.57")) == \
        (200, b"inst-57")
    assert get(service, "/latest/meta-data/public-ipv4", headers("10.0.0.57")) == \
        (200, b"172.24.4.20")
    assert get(service, "/latest/meta-data/local-ipv4", headers("10.0.0.57")) == \
        (200, b"10.0.0.57")
    assert get(service, "/latest/meta-data/hostname", headers("10.0.0.57")) == (200, b"vm1")
    status, body = get(service, "/openstack/latest/meta_data.json", headers("10.0.0.58"))
    assert status == 200
    data = json.loads(body)
    assert (data["uuid"], data["name"], data["hostname"]) == ("inst-58", "vm2", "vm2")
    # vm2 has no floating IP (the router's only one belongs to vm1's port).
    assert get(service, "/latest/meta-data/public-ipv4", headers("10.0.0.58"))[0] == 404


def test_missing_or_wrong_headers_are_404(service):
    path = "/latest/meta-data/instance-id"
    assert get(service, path, {})[0] == 404
    assert get(service, path, headers("10.0.0.57", router_id=None))[0] == 404
    assert get(service, path, {"X-Neutron-Router-ID": ROUTER})[0] == 404
    assert get(service, path, headers("not-an-ip"))[0] == 404
    assert get(service, path, headers("10.0.0.57", router_id="another-router"))[0] == 404
    assert get(service, path, headers("10.0.0.200"))[0] == 404
    both = dict(headers("10.0.0.57"), **{"X-Neutron-Network-ID": "int-net"})
    assert get(service, path, both)[0] == 404


def test_sync_routers_only_for_paths_showing_the_floating_ip(service, plugin):
    plugin.sync_calls.clear()
    assert get(service, "/latest/meta-data/instance-id", headers("10.0.0.57"))[0] == 200
    assert get(service, "/openstack/latest/meta_data.json", headers("10.0.0.57"))[0] == 200
    assert plugin.sync_calls == []
    assert get(service, "/latest/meta-data/public-ipv4", headers("10.0.0.57"))[0] == 200
    assert plugin.sync_calls == [[ROUTER]]


def test_floating_ip_given_with_the_port_needs_no_router_sync(service, plugin):
    plugin.metadata_ports[(ROUTER, "10.0.0.58")][0]["floating_ip_address"] = "172.24.4.77"
    plugin.sync_calls.clear()
    assert get(service, "/latest/meta-data/public-ipv4", headers("10.0.0.58")) == \
        (200, b"172.24.4.77")
    assert plugin.sync_calls == []


def test_ambiguous_address_is_refused(service):
    assert get(service, "/latest/meta-data/instance-id", headers("10.0.0.99"))[0] == 404


def test_writes_are_refused(service):
    conn = UnixHTTPConnection(service)
    try:
        conn.request("POST", "/latest/meta-data/instance-id", body=b"x",
                     headers=headers("10.0.0.57"))
        assert conn.getresponse().status == 405
    finally:
        conn.close()


def test_a_refused_write_is_answered_after_its_body(service):
    """The service reads the body before its 405: a client whose body comes a
    moment after the headers must not find the connection closed (EPIPE)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(service)
        sock.sendall(b"PUT /latest/meta-data/instance-id HTTP/1.1\r\nHost: x\r\n"
                     b"X-Forwarded-For: 10.0.0.57\r\nContent-Length: 5\r\n\r\n")
        time.sleep(0.3)
        sock.sendall(b"hello")
        reply = sock.recv(4096)
    assert reply.startswith(b"HTTP/1.0 405") or reply.startswith(b"HTTP/1.1 405"), reply
