"""RouterDriver's view of the metadata proxy it started (no namespaces needed)."""
import os
import uuid

from neutrino.agents.l3 import netns_driver
from neutrino.agents.l3.netns_driver import Applied, RouterDriver
from neutrino.agents.l3.router_plan import RouterPlan
from neutrino.linux import proc


def test_a_proxy_it_started_is_known_even_before_its_cmdline_says_so(tmp_path, monkeypatch):
    """While nsenter execs Python, /proc/PID/cmdline reads empty for a moment;
    the agent must still know the child it just spawned, or it never watches
    it and a killed proxy is not restarted."""
    spawned = []
    real_spawn = proc.spawn

    def spawn(cmd, log_path=None, env=None, netns=None):
        pid = real_spawn(["sleep", "30"])           # a cmdline that names no proxy
        spawned.append(pid)
        return pid

    monkeypatch.setattr(netns_driver.proc, "spawn", spawn)
    driver = RouterDriver(str(tmp_path))
    router_id = str(uuid.uuid4())
    os.makedirs(driver.router_dir(router_id))
    try:
        driver._proxy(RouterPlan(router_id=router_id, namespace="qrouter-x"), Applied())
        assert driver.proxy_pid(router_id) == spawned[0]
        proc.kill_and_wait(spawned[0])
        assert driver.proxy_pid(router_id) is None
    finally:
        for pid in spawned:
            proc.kill_and_wait(pid)


def test_a_pid_file_from_elsewhere_must_name_the_proxy(tmp_path):
    """A pid read from the file (an earlier agent's proxy) is only trusted when
    its command line is the proxy of that router: pids get recycled."""
    driver = RouterDriver(str(tmp_path))
    router_id = str(uuid.uuid4())
    os.makedirs(driver.router_dir(router_id))
    pid = proc.spawn(["sleep", "30"])
    try:
        with open(driver.proxy_pid_file(router_id), "w") as f:
            f.write(f"{pid}\n")
        assert driver.proxy_pid(router_id) is None
    finally:
        proc.kill_and_wait(pid)
