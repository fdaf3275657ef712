"""The explanation's verdict, JSON and text."""
from neutrino.diagnose.path import Explanation, Hop


def _exp(*hops):
    e = Explanation("vm1", "vm2", "icmp", None)
    e.hops = list(hops)
    return e


def test_delivered_when_every_hop_passes():
    e = _exp(Hop("vm1", "eth0", "out"), Hop("compute01", "br-int", "tag 1"))
    out = e.to_json()
    assert out["verdict"] == "delivered" and out["dropped_at"] is None and out["fix"] is None
    assert [h["n"] for h in out["hops"]] == [1, 2]
    assert e.to_text().endswith("verdict: delivered")


def test_first_failing_hop_is_the_verdict_with_its_fix():
    bad = Hop("compute01", "br-int", "").fail("tag 101", "neutrino lab up --name x",
                                               {"method": "PUT"})
    later = Hop("compute02", "br-int", "").fail("other")
    e = _exp(Hop("vm1", "eth0", "out"), bad, later)
    out = e.to_json()
    assert out["verdict"] == "dropped"
    assert out["dropped_at"] == {"hop": 2, "node": "compute01", "device": "br-int",
                                 "reason": "tag 101", "direction": "forward"}
    assert out["fix"] == "neutrino lab up --name x" and out["fix_api"] == {"method": "PUT"}
    text = e.to_text()
    assert "dropped at hop 2" in text and "other" not in text
