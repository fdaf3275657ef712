"""The web view in headless Chromium: the page loads, draws every node and
instance of the lab, and shows an explain path; a screenshot is kept."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

import httpx
import pytest

from tests.diagnose.conftest import BIN

pytestmark = pytest.mark.dataplane
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _chromium() -> str:
    found = shutil.which("chromium")
    if not found:
        subprocess.run(["bash", os.path.join(ROOT, "scripts", "setup.sh"), "chromium"],
                       check=True, timeout=900)
        found = shutil.which("chromium")
    assert found, "chromium did not install"
    return found


@pytest.fixture(scope="module")
def web(demo):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([BIN, "web", "--name", demo.lab.name, "--bind", f"127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/api/topo", timeout=10).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _headless(chromium: str, profile, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                           "--disable-background-networking", "--disable-component-update",
                           "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                           "--virtual-time-budget=20000", *args],
                          capture_output=True, text=True, timeout=120)


def test_api_answers_topology_and_explain(demo, web):
    topo = httpx.get(f"{web}/api/topo", timeout=30).json()
    assert {"controller", "compute01", "compute02"} <= set(topo["nodes"])
    assert {i["name"] for i in topo["instances"]} == {"vm1", "vm2", "vm3"}
    exp = httpx.get(f"{web}/api/explain", params={"src": "vm1", "dst": "vm2"}, timeout=30).json()
    assert exp["verdict"] == "delivered"
    bad = httpx.get(f"{web}/api/explain", params={"src": "vm1", "dst": "x"}, timeout=30)
    assert bad.status_code == 400 and "x" in bad.json()["error"]


def test_page_draws_the_lab_and_an_explain_path(demo, web, tmp_path):
    chromium = _chromium()
    page = f"{web}/?src=vm1&dst=vm2"
    dom = _headless(chromium, tmp_path / "profile-dom", "--dump-dom", page)
    assert dom.returncode == 0, dom.stderr[-500:]
    html = dom.stdout
    for node in ("controller", "compute01", "compute02"):
        assert f'id="node:{node}"' in html, node
    for vm in ("vm1", "vm2", "vm3"):
        assert f'id="{vm}/eth0"' in html, vm
    assert 'class="delivered"' in html
    assert "hl-forward" in html and "hl-reply" in html
    shot = tmp_path / "web-view.png"
    res = _headless(chromium, tmp_path / "profile-shot", f"--screenshot={shot}",
                    "--window-size=1800,1100", page)
    assert res.returncode == 0 and shot.exists() and shot.stat().st_size > 10000, res.stderr[-500:]
    print(f"web view screenshot: {shot}")
