"""`neutrino topo` on the demo lab: the seed's Figure 2 devices, every format, and
a stale namespace reported as a difference between the database and a node."""
from __future__ import annotations

import json
import subprocess
import uuid

import pytest

from neutrino.lab import node

pytestmark = pytest.mark.dataplane


def test_text_shows_the_figure_2_path(demo):
    out = demo.neutrino("topo", "--name", demo.lab.name)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for word in ("tap", "qbr", "qvb", "qvo", "br-int", "patch-tun", "br-tun", "vxlan-0aa8070",
                 "qdhcp-", "br-ex", "tag 1", "(linux bridge)"):
        assert word in text, word
    assert "problems: none" in text


def test_json_has_every_node_instance_and_tag(demo):
    data = json.loads(demo.neutrino("topo", "--name", demo.lab.name, "--format", "json").stdout)
    assert [n["name"] for n in data["nodes"]] == ["controller", "compute01", "compute02"]
    assert {i["name"]: i["host"] for i in data["instances"]} == {
        "vm1": "compute01", "vm2": "compute02", "vm3": "compute01"}
    c1 = next(n for n in data["nodes"] if n["name"] == "compute01")
    br_int = next(b for b in c1["bridges"] if b["name"] == "br-int")
    qvos = [p for p in br_int["ports"] if p["name"].startswith("qvo")]
    assert len(qvos) == 2 and all(p["tag"] == 1 for p in qvos)
    assert {p["owner"] for p in qvos} == {"vm1", "vm3"}
    tunnels = [p for b in c1["bridges"] for p in b["ports"] if p["type"] == "vxlan"]
    assert {p["remote_node"] for p in tunnels} == {"controller", "compute02"}


def test_one_node_and_svg(demo):
    data = json.loads(demo.neutrino("topo", "--name", demo.lab.name, "--node", "compute02",
                                    "--format", "json").stdout)
    assert [n["name"] for n in data["nodes"]] == ["compute02"]
    assert [i["name"] for i in data["instances"]] == ["vm2"]
    svg = demo.neutrino("topo", "--name", demo.lab.name, "--format", "svg").stdout
    assert svg.lstrip().startswith("<?xml") and 'id="vm2/eth0"' in svg
    bad = demo.neutrino("topo", "--name", demo.lab.name, "--node", "nosuch")
    assert bad.returncode == 1 and "nosuch" in bad.stderr


def test_stale_namespace_is_listed(demo):
    ns = f"qdhcp-{uuid.uuid4()}"
    argv = node.enter_argv(demo.lab, "controller", ["ip", "netns", "add", ns])
    subprocess.run(argv, check=True)
    try:
        out = demo.neutrino("topo", "--name", demo.lab.name).stdout
        assert f"namespace {ns} is stale" in out
    finally:
        subprocess.run(node.enter_argv(demo.lab, "controller", ["ip", "netns", "delete", ns]))
