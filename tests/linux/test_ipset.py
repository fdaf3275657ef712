"""IpsetManager: canonical members, add/del versus swap, one restore batch."""
import uuid

import pytest

from neutrino.errors import NeutrinoError
from neutrino.linux import proc
from neutrino.linux.ipset import IpSet, IpsetManager, canonical_members, family_of, parse_save

SAVED = """create NIPv4abc hash:net family inet hashsize 1024 maxelem 65536 bucketsize 12
add NIPv4abc 10.0.0.5
add NIPv4abc 10.1.0.0/16
create NIPv6abc hash:net family inet6 hashsize 1024 maxelem 65536
add NIPv6abc 2001:db8::1
"""


class Recorder:
    def __init__(self, saved=""):
        self.saved = saved
        self.batches = []

    def __call__(self, cmd, input):
        if cmd[:2] == ["ipset", "save"]:
            return self.saved
        assert cmd == ["ipset", "restore", "-exist"]
        self.batches.append(input.splitlines())
        return ""


def test_members_are_written_as_ipset_prints_them():
    assert canonical_members(["10.0.0.5", "10.0.0.7/32", "10.1.2.3/16"]) == \
        {"10.0.0.5", "10.0.0.7", "10.1.0.0/16"}
    assert canonical_members(["0.0.0.0/0"]) == {"0.0.0.0/1", "128.0.0.0/1"}
    assert canonical_members(["10.0.0.5", "2001:db8::1"], "inet6") == {"2001:db8::1"}
    with pytest.raises(NeutrinoError, match="not an IP"):
        canonical_members(["10.0.0.300"])


def test_family_names():
    assert family_of("IPv4") == "inet" and family_of(6) == "inet6"
    with pytest.raises(NeutrinoError):
        family_of("IPX")


def test_parse_save():
    sets = parse_save(SAVED)
    assert sets["NIPv4abc"] == IpSet("inet", {"10.0.0.5", "10.1.0.0/16"})
    assert sets["NIPv6abc"].family == "inet6"


def test_new_set_is_created_with_its_members_in_one_batch():
    rec = Recorder()
    IpsetManager(runner=rec).apply({"NIPv4new": IpSet("inet", {"10.0.0.2", "10.0.0.1"})})
    assert rec.batches == [["create NIPv4new hash:net family inet",
                            "add NIPv4new 10.0.0.1", "add NIPv4new 10.0.0.2"]]


def test_small_change_is_add_and_del():
    rec = Recorder(SAVED)
    IpsetManager(runner=rec).set_members("NIPv4abc", "IPv4", ["10.1.0.0/16", "10.0.0.9"])
    assert rec.batches == [["del NIPv4abc 10.0.0.5", "add NIPv4abc 10.0.0.9"]]


def test_unchanged_set_sends_nothing():
    rec = Recorder(SAVED)
    assert IpsetManager(runner=rec).set_members("NIPv4abc", "IPv4",
                                                ["10.0.0.5/32", "10.1.0.0/16"]) == []
    assert rec.batches == []


def test_big_change_is_a_swap():
    rec = Recorder(SAVED)
    new = [f"10.2.0.{i}" for i in range(1, 7)]
    IpsetManager(runner=rec).set_members("NIPv4abc", "IPv4", new)
    batch = rec.batches[0]
    assert batch[:2] == ["create NIPv4abc-n hash:net family inet", "flush NIPv4abc-n"]
    assert sorted(batch[2:8]) == sorted(f"add NIPv4abc-n {ip}" for ip in new)
    assert batch[8:] == ["swap NIPv4abc-n NIPv4abc", "destroy NIPv4abc-n"]


def test_name_that_leaves_no_room_for_the_swap_suffix_is_refused():
    with pytest.raises(NeutrinoError, match="too long"):
        IpsetManager(runner=Recorder()).set_members("N" * 30, "IPv4", ["10.0.0.1"])


@pytest.fixture
def netns():
    name = f"nt-ips-{uuid.uuid4().hex[:8]}"
    proc.run(["ip", "netns", "add", name])
    try:
        yield name
    finally:
        proc.run(["ip", "netns", "del", name], check=False)


@pytest.mark.dataplane
def test_real_sets_follow_the_desired_members(netns):
    mgr = IpsetManager(netns=netns)
    mgr.set_members("NIPv4test", "IPv4", ["10.0.0.1", "10.0.1.0/24"])
    assert mgr.list_sets()["NIPv4test"].members == {"10.0.0.1", "10.0.1.0/24"}
    assert mgr.set_members("NIPv4test", "IPv4", ["10.0.0.1", "10.0.1.0/24"]) == []
    many = [f"10.9.0.{i}" for i in range(1, 20)]
    mgr.set_members("NIPv4test", "IPv4", many)
    assert mgr.list_sets()["NIPv4test"].members == set(many)
    assert "NIPv4test-n" not in mgr.list_sets()
    mgr.set_members("NIPv6test", "IPv6", ["2001:db8::5", "::/0"])
    assert mgr.list_sets()["NIPv6test"].members == {"2001:db8::5", "::/1", "8000::/1"}
    mgr.destroy(["NIPv4test", "NIPv6test"])
    assert mgr.list_sets() == {}


def _real(mgr):
    return parse_save(proc.run(["ipset", "save"], netns=mgr.netns).out)


@pytest.mark.dataplane
def test_real_memory_is_what_ipset_save_prints(netns):
    proc.run(["ipset", "create", "HOSTSET", "hash:ip"], netns=netns)
    mgr = IpsetManager(netns=netns)
    steps = [
        {"NIPv4a": IpSet("inet", {"10.0.0.1", "10.0.1.0/24"})},
        {"NIPv4a": IpSet("inet", {"10.0.0.1", "10.0.0.2"}),
         "NIPv6a": IpSet("inet6", {"2001:db8::5", "::/0"})},
        {"NIPv4a": IpSet("inet", {f"10.9.0.{i}" for i in range(1, 20)})},
        {"NIPv4a": IpSet("inet", set())},
    ]
    for n, desired in enumerate(steps):
        mgr.apply(desired)
        assert mgr.remembered() == _real(mgr), n
    mgr.destroy(["NIPv4a", "NIPv6a"])
    assert mgr.remembered() == _real(mgr) == {"HOSTSET": IpSet("inet")}


def test_memory_spares_the_listing_and_verify_reads_again():
    calls = []
    rec = Recorder(SAVED)

    def runner(cmd, input):
        calls.append(cmd[1])
        return rec(cmd, input)

    mgr = IpsetManager(runner=runner)
    mgr.set_members("NIPv4abc", "IPv4", ["10.0.0.5", "10.0.0.6"])
    mgr.set_members("NIPv4abc", "IPv4", ["10.0.0.6"])
    assert calls == ["save", "restore", "restore"]
    assert rec.batches[-1] == ["del NIPv4abc 10.0.0.5"]
    assert mgr.sets()["NIPv4abc"].members == {"10.0.0.6"}
    assert set(mgr.sets()) == {"NIPv4abc", "NIPv6abc"}
    calls.clear()
    mgr.set_members("NIPv4abc", "IPv4", ["10.0.0.6"])
    assert calls == []
    mgr.apply({"NIPv4abc": IpSet("inet", {"10.0.0.6"})}, verify=True)
    assert calls == ["save", "restore"]  # the recorder's kernel never changed


def test_a_failed_batch_drops_the_memory():
    from neutrino.errors import CommandFailed
    rec = Recorder(SAVED)
    refuse = [True]

    def runner(cmd, input):
        if cmd[1] == "restore" and refuse[0]:
            raise CommandFailed(cmd, 1, "ipset v7: Error in line 1")
        return rec(cmd, input)

    mgr = IpsetManager(runner=runner)
    with pytest.raises(CommandFailed):
        mgr.set_members("NIPv4abc", "IPv4", ["10.0.0.9"])
    assert mgr.remembered() is None
    refuse[0] = False
    mgr.set_members("NIPv4abc", "IPv4", ["10.0.0.9"])
    assert mgr.remembered()["NIPv4abc"].members == {"10.0.0.9"}
