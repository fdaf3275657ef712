import pytest

from neutrino.cli import instance as instance_cli
from neutrino.cli import lab as lab_cli
from neutrino.errors import NeutrinoError


def test_split_command():
    assert lab_cli.split_command(["exec", "n", "--", "ip", "--", "a"]) == \
        (["exec", "n"], ["ip", "--", "a"])
    assert lab_cli.split_command(["up"]) == (["up"], None)


def test_exec_options_after_node_with_dashes():
    args = lab_cli.parser(True).parse_args(["exec", "compute01", "--name", "x"])
    assert (args.node, args.name, args.cmd) == ("compute01", "x", [])


def test_exec_command_without_dashes_keeps_its_options():
    args = lab_cli.parser(False).parse_args(["exec", "--name", "x", "compute01", "ip", "-br", "a"])
    assert args.cmd == ["ip", "-br", "a"]


def test_command_after_dashes_only_for_exec():
    with pytest.raises(NeutrinoError, match="takes no command"):
        lab_cli.main(["down", "--name", "x", "--", "ls"])
    with pytest.raises(NeutrinoError, match="takes no command"):
        instance_cli.main(["list", "--", "ls"])


def test_bad_lab_name_is_a_clear_error():
    with pytest.raises(NeutrinoError, match="bad lab name"):
        lab_cli.main(["status", "--name", "Bad-Name"])


def test_status_of_missing_lab(tmp_path):
    with pytest.raises(NeutrinoError, match="not up"):
        lab_cli.main(["status", "--name", "nosuchlab", "--state-dir", str(tmp_path)])


def test_instance_of_missing_lab(tmp_path):
    with pytest.raises(NeutrinoError, match="not up"):
        instance_cli.main(["create", "vm1", "--network", "n", "--name", "nosuchlab",
                           "--state-dir", str(tmp_path)])
    with pytest.raises(NeutrinoError, match="no instance"):
        instance_cli.main(["exec", "vm1", "--name", "nosuchlab", "--state-dir", str(tmp_path),
                           "--", "true"])


def test_openrc_prints_the_exports_of_the_user(tmp_path, capsys):
    from neutrino.lab import accounts, info
    from neutrino.lab.layout import Lab
    lab = Lab.locate("cliopenrc", str(tmp_path))
    info.write_info(lab, {"port": 9696, "identity_port": 5123})
    passwords = accounts.ensure_passwords(lab)
    assert lab_cli.main(["openrc", "admin", "--name", lab.name, "--state-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "export OS_AUTH_URL=http://127.0.0.1:5123/v3\n" in out
    assert f"export OS_PASSWORD={passwords['admin']}\n" in out
    assert "export OS_USERNAME=admin\n" in out and "export OS_PROJECT_NAME=admin\n" in out
    with pytest.raises(NeutrinoError, match="no lab user 'guest'"):
        lab_cli.main(["openrc", "guest", "--name", lab.name, "--state-dir", str(tmp_path)])


def test_openrc_of_missing_lab(tmp_path):
    with pytest.raises(NeutrinoError, match="not up"):
        lab_cli.main(["openrc", "demo", "--name", "nosuchlab", "--state-dir", str(tmp_path)])
