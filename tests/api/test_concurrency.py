"""Races through a real uvicorn: many clients at once must leave the DB consistent."""
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import func, select

from neutrino.db.models import IPAllocation, Network, Port, VxlanAllocation
from neutrino.server.config import ServerOptions

WORKERS = 16


def post(client, path, body):
    return client.post(path, json=body)


@pytest.fixture
def client(live_server):
    with httpx.Client(base_url=live_server, timeout=60,
                      limits=httpx.Limits(max_connections=WORKERS)) as c:
        yield c


def test_concurrent_port_creates_on_a_slash_26(client, service):
    net = client.post("/v2.0/networks", json={"network": {"name": "n"}}).json()["network"]
    sub = client.post("/v2.0/subnets", json={"subnet": {
        "network_id": net["id"], "cidr": "10.0.0.0/26", "ip_version": 4}}).json()["subnet"]
    with ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(lambda _: post(client, "/v2.0/ports", {
            "port": {"network_id": net["id"]}}), range(70)))
    codes = sorted(r.status_code for r in results)
    assert codes.count(201) == 60, codes
    assert codes.count(409) == 10
    assert {r.json()["NeutronError"]["type"] for r in results if r.status_code == 409} == {
        "IpAddressGenerationFailure"}
    ports = [r.json()["port"] for r in results if r.status_code == 201]
    ips = [p["fixed_ips"][0]["ip_address"] for p in ports]
    assert len(set(ips)) == 60 and "10.0.0.1" not in ips and "10.0.0.2" not in ips
    assert len({p["mac_address"] for p in ports}) == 60
    with service.db.reader() as s:
        assert s.scalar(select(func.count()).select_from(Port)) == 61
        assert s.scalar(select(func.count(IPAllocation.ip_address.distinct()))
                        .where(IPAllocation.subnet_id == sub["id"])) == 61
        assert s.scalar(select(func.count()).select_from(IPAllocation)) == 61


@pytest.mark.parametrize("server_options", [ServerOptions(vni_ranges=[(100, 129)])])
def test_concurrent_network_creates_get_distinct_vnis(client, service):
    with ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(lambda i: post(client, "/v2.0/networks", {
            "network": {"name": f"n{i}"}}), range(40)))
    codes = sorted(r.status_code for r in results)
    assert codes.count(201) == 30 and codes.count(503) == 10, codes
    vnis = [r.json()["network"]["provider:segmentation_id"] for r in results
            if r.status_code == 201]
    assert sorted(vnis) == list(range(100, 130))
    with service.db.reader() as s:
        taken = s.scalar(select(func.count()).select_from(VxlanAllocation)
                         .where(VxlanAllocation.allocated.is_(True)))
        assert taken == 30 == s.scalar(select(func.count()).select_from(Network))


def test_delete_network_while_creating_ports(client, service):
    net = client.post("/v2.0/networks", json={"network": {}}).json()["network"]
    client.post("/v2.0/subnets", json={"subnet": {
        "network_id": net["id"], "cidr": "10.0.0.0/24", "ip_version": 4}})
    create_codes = []

    def creator(_):
        codes = []
        for _ in range(25):
            r = post(client, "/v2.0/ports", {"port": {"network_id": net["id"]}})
            codes.append(r.status_code)
            if r.status_code == 404:
                break
        create_codes.extend(codes)

    def deleter():
        for _ in range(1000):
            for port in client.get(f"/v2.0/ports?network_id={net['id']}").json()["ports"]:
                if port["device_owner"] != "network:dhcp":
                    client.delete(f"/v2.0/ports/{port['id']}")
            r = client.delete(f"/v2.0/networks/{net['id']}")
            if r.status_code == 204:
                return True
            assert r.status_code == 409, r.text
        return False

    with ThreadPoolExecutor(8) as pool:
        creators = [pool.submit(creator, i) for i in range(6)]
        assert pool.submit(deleter).result()
        for f in creators:
            f.result()
    assert set(create_codes) <= {201, 404}
    assert client.get(f"/v2.0/networks/{net['id']}").status_code == 404
    with service.db.reader() as s:
        assert s.scalar(select(func.count()).select_from(Port)) == 0
        assert s.scalar(select(func.count()).select_from(IPAllocation)) == 0


def test_concurrent_claims_of_one_address_and_mac(client, service):
    net = client.post("/v2.0/networks", json={"network": {}}).json()["network"]
    client.post("/v2.0/subnets", json={"subnet": {
        "network_id": net["id"], "cidr": "10.0.0.0/24", "ip_version": 4}})
    with ThreadPoolExecutor(WORKERS) as pool:
        by_ip = list(pool.map(lambda _: post(client, "/v2.0/ports", {"port": {
            "network_id": net["id"], "fixed_ips": [{"ip_address": "10.0.0.50"}]}}), range(20)))
        by_mac = list(pool.map(lambda _: post(client, "/v2.0/ports", {"port": {
            "network_id": net["id"], "mac_address": "fa:16:3e:aa:bb:cc"}}), range(20)))
    for results, error in ((by_ip, "IpAddressInUse"), (by_mac, "MacAddressInUse")):
        codes = sorted(r.status_code for r in results)
        assert codes == [201] + [409] * 19, codes
        assert {r.json()["NeutronError"]["type"] for r in results if r.status_code == 409} == {
            error}
