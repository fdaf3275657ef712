"""openrc lines and clouds.yaml text, checked by the shell and by YAML's quoting rules."""
import json
import subprocess

from neutrino.identity.clouds import clouds_yaml, openrc

URL = "http://127.0.0.1:5000/v3"
TRICKY = "p'a\"ss $(id) `x` \\ word"


def test_openrc_exports_survive_the_shell():
    script = openrc(URL, "demo", TRICKY) + 'printf "%s\\n%s\\n%s" "$OS_PASSWORD" ' \
                                           '"$OS_PROJECT_NAME" "$OS_AUTH_URL"'
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n") == [TRICKY, "demo", URL]


def test_clouds_yaml_names_and_quoting():
    text = clouds_yaml(URL, {"admin": "a1", "demo": TRICKY})
    assert "  neutrino-admin:\n" in text and "  neutrino-demo:\n" in text
    line = next(l for l in text.splitlines() if "password" in l and "demo" not in l
                and "a1" not in l)
    value = line.split(": ", 1)[1]
    assert json.loads(value) == TRICKY
    assert "      project_name: \"demo\"" in text
    assert "    identity_api_version: 3" in text
