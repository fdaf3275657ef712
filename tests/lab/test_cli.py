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
