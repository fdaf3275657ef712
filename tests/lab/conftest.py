"""Lab fixtures shared by the lab tests (and by any data-plane test here).

* ``lab``: a full lab (server + agents), random name, session-scoped, always
  taken down. Skipped while ``neutrino server``/``neutrino agent`` are absent.
* ``bare_lab``: nodes, underlay and OVS only (``--no-server``), session-scoped.
* ``fake_api``: a tiny in-memory Networking API (networks, ports) for testing
  instances without the real server.
* ``host_snapshot``: what the root namespace holds (namespaces, devices,
  mounts), to compare before/after.
"""
from __future__ import annotations

import importlib.util
import shutil

import pytest
from labkit import FakeNeutron, new_lab

from neutrino.lab import lifecycle, teardown


def _quiet(text: str) -> None:
    print(text)


@pytest.fixture(scope="session")
def bare_lab():
    lab = new_lab("b")
    try:
        lifecycle.up(lab, computes=2, server=False, say=_quiet)
        yield lab
    finally:
        teardown.down(lab)


@pytest.fixture(scope="session")
def lab():
    for module in ("neutrino.cli.server", "neutrino.cli.agent"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not there yet")
    lab = new_lab("f")
    try:
        lifecycle.up(lab, computes=2, say=_quiet)
        yield lab
    finally:
        teardown.down(lab)


@pytest.fixture
def fake_api():
    api = FakeNeutron()
    try:
        yield api
    finally:
        api.close()


def remove_tree(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)
