"""The real python-openstackclient and openstacksdk against a `neutrino server --auth keystone`.

The pinned clients are installed by ../shared/clients/setup.sh into a venv kept
outside the repository (``$NEUTRINO_CLIENTS_VENV_ROOT``, default
/var/cache/neutrino), built once and reused; when it cannot be built the
tests are skipped with the reason. The server runs as its own process on free
ports with a temporary database; it is stopped even when a test fails.
"""
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from neutrino.identity.clouds import clouds_yaml

WORKPLACE = Path(__file__).resolve().parents[3]
HARNESS = Path(os.environ.get("NEUTRINO_CLIENTS_HARNESS", WORKPLACE / "shared" / "clients"))
VENV_ROOT = Path(os.environ.get("NEUTRINO_CLIENTS_VENV_ROOT", "/var/cache/neutrino"))
ADMIN_PASSWORD = "Clients-Admin-Pw-1"
DEMO_PASSWORD = "Clients-Demo-Pw-2"
COMMAND_TIMEOUT = 180


def pytest_configure(config):
    config.addinivalue_line("markers", "clients: runs the real openstack CLI / openstacksdk "
                                       "(venv built by ../shared/clients/setup.sh)")


@pytest.fixture(scope="session")
def clients_venv() -> Path:
    venv = VENV_ROOT / "clients-venv"
    if not (venv / "bin" / "openstack").exists():
        setup = HARNESS / "setup.sh"
        if not setup.exists():
            pytest.skip(f"no client harness at {setup}")
        try:
            VENV_ROOT.mkdir(parents=True, exist_ok=True)
            done = subprocess.run(["bash", str(setup)], env=dict(os.environ,
                                  VENV_ROOT=str(VENV_ROOT)), capture_output=True, text=True,
                                  timeout=1800)
        except (OSError, subprocess.TimeoutExpired) as error:
            pytest.skip(f"cannot build the clients venv in {VENV_ROOT}: {error}")
        if done.returncode != 0 or not (venv / "bin" / "openstack").exists():
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["?"]
            pytest.skip(f"cannot build the clients venv in {VENV_ROOT}: {tail[0]}")
    return venv


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, deadline: float) -> None:
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"neutrino server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on port {port}") from None
            time.sleep(0.05)


class Cloud:
    """The running server plus a clouds.yaml with ``neutrino-admin`` and ``neutrino-demo``."""

    def __init__(self, venv: Path, workdir: Path, identity_url: str, network_url: str,
                 log: Path):
        self.venv, self.workdir, self.log = venv, workdir, log
        self.identity_url, self.network_url = identity_url, network_url
        self.clouds_yaml = workdir / "clouds.yaml"
        self.clouds_yaml.write_text(clouds_yaml(identity_url, {"admin": ADMIN_PASSWORD,
                                                               "demo": DEMO_PASSWORD}))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        self.env["OS_CLIENT_CONFIG_FILE"] = str(self.clouds_yaml)

    def run(self, argv: list[str], check_stderr: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(argv, env=self.env, capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT, cwd=self.workdir)
        assert done.returncode == 0, f"{argv[1:]} exited {done.returncode}: {done.stderr}"
        if check_stderr:
            assert done.stderr.strip() == "", f"{argv[1:]} warned: {done.stderr}"
        return done

    def osc(self, cloud: str, *args: str):
        """Run ``openstack --os-cloud <cloud> args``; parse JSON when ``-f json`` is given."""
        done = self.run([str(self.venv / "bin" / "openstack"), "--os-cloud", cloud, *args])
        if "-f" in args and args[args.index("-f") + 1] == "json":
            return json.loads(done.stdout)
        return done.stdout

    def osc_fails(self, cloud: str, *args: str) -> str:
        done = subprocess.run([str(self.venv / "bin" / "openstack"), "--os-cloud", cloud, *args],
                              env=self.env, capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT)
        assert done.returncode != 0, f"{args} unexpectedly succeeded: {done.stdout}"
        return done.stderr

    def sdk(self, script: str, *args: str) -> dict:
        """Run a Python script in the clients venv; its last stdout line is JSON."""
        done = self.run([str(self.venv / "bin" / "python"), "-c", script, *args])
        return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def keystone_cloud(clients_venv, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("clients")
    api_port, identity_port = free_port(), free_port()
    log = workdir / "server.log"
    env = dict(os.environ, NEUTRINO_BOOTSTRAP_ADMIN_PASSWORD=ADMIN_PASSWORD,
               NEUTRINO_BOOTSTRAP_DEMO_PASSWORD=DEMO_PASSWORD)
    argv = [sys.executable, "-m", "neutrino.cli.main", "server",
            "--bind", f"127.0.0.1:{api_port}", "--identity-bind", f"127.0.0.1:{identity_port}",
            "--auth", "keystone", "--state-dir", str(workdir / "state"), "--access-log"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 60
        wait_listening(api_port, proc, deadline)
        wait_listening(identity_port, proc, deadline)
        yield Cloud(clients_venv, workdir, f"http://127.0.0.1:{identity_port}/v3",
                    f"http://127.0.0.1:{api_port}", log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
