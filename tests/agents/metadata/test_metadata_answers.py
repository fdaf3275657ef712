import json

from neutrino.agents.metadata.answers import Instance, answer, needs_public_ipv4

VM = Instance(port_id="p1", device_id="inst-1", project_id="proj", network_id="net",
              name="VM_One", local_ipv4="10.0.0.5", public_ipv4="172.24.4.20")


def test_ec2_paths():
    assert answer("/latest/meta-data/instance-id", VM) == (200, "text/plain; charset=UTF-8",
                                                           b"inst-1")
    assert answer("/latest/meta-data/hostname", VM)[2] == b"vm-one"
    assert answer("/latest/meta-data/local-ipv4", VM)[2] == b"10.0.0.5"
    assert answer("/latest/meta-data/public-ipv4", VM)[2] == b"172.24.4.20"
    assert answer("/2009-04-04/meta-data/instance-id", VM)[2] == b"inst-1"
    listing = answer("/latest/meta-data/", VM)[2].decode().split("\n")
    assert {"instance-id", "hostname", "local-ipv4", "public-ipv4"} <= set(listing)


def test_no_floating_ip_means_no_public_ipv4():
    vm = Instance("p", "i", "pr", "n", "a", "10.0.0.6")
    assert answer("/latest/meta-data/public-ipv4", vm)[0] == 404
    assert "public-ipv4" not in answer("/latest/meta-data", vm)[2].decode()


def test_openstack_meta_data_json():
    status, ctype, body = answer("/openstack/latest/meta_data.json", VM)
    assert status == 200 and ctype == "application/json"
    data = json.loads(body)
    assert (data["uuid"], data["name"], data["hostname"]) == ("inst-1", "VM_One", "vm-one")
    assert answer("/openstack/latest", VM)[2] == b"meta_data.json\n"


def test_unknown_paths_are_404():
    for path in ("/latest/user-data", "/foo/meta-data/instance-id", "/latest/meta-data/x",
                 "/openstack/latest/vendor_data.json", "/openstack/nope/meta_data.json"):
        assert answer(path, VM)[0] == 404, path


def test_only_listing_and_public_paths_need_the_floating_ip():
    assert needs_public_ipv4("/latest/meta-data/public-ipv4")
    assert needs_public_ipv4("/latest/meta-data/")
    assert not needs_public_ipv4("/latest/meta-data/instance-id")
    assert not needs_public_ipv4("/openstack/latest/meta_data.json")
