"""What a user needs to reach the cloud: clouds.yaml entries and DevStack-style openrc lines.

The lab writes ``clouds_yaml(...)`` to its state dir and prints ``openrc(...)``
for ``neutrino lab openrc admin|demo``.
"""
import json
import shlex

REGION = "RegionOne"


def cloud_entry(identity_url: str, user: str, password: str, project: str | None = None,
                region: str = REGION) -> dict:
    return {"auth": {"auth_url": identity_url, "username": user, "password": password,
                     "project_name": project or user, "user_domain_name": "Default",
                     "project_domain_name": "Default"},
            "region_name": region, "identity_api_version": 3, "interface": "public"}


def clouds_yaml(identity_url: str, passwords: dict[str, str], prefix: str = "neutrino-",
                region: str = REGION) -> str:
    """YAML text with one cloud per user (``neutrino-admin``, ``neutrino-demo``, ...)."""
    lines = ["clouds:"]
    for user, password in passwords.items():
        entry = cloud_entry(identity_url, user, password, region=region)
        lines.append(f"  {prefix}{user}:")
        lines.append("    auth:")
        for key, value in entry["auth"].items():
            lines.append(f"      {key}: {_quote(value)}")
        for key in ("region_name", "identity_api_version", "interface"):
            lines.append(f"    {key}: {_quote(entry[key])}")
    return "\n".join(lines) + "\n"


def _quote(value) -> str:
    """JSON scalars are valid YAML: a password with any character stays intact."""
    return json.dumps(value)


def openrc(identity_url: str, user: str, password: str, project: str | None = None,
           region: str = REGION) -> str:
    """The ``export OS_...`` lines of DevStack's openrc for this user."""
    values = {"OS_AUTH_URL": identity_url, "OS_IDENTITY_API_VERSION": "3",
              "OS_AUTH_TYPE": "password", "OS_USERNAME": user, "OS_PASSWORD": password,
              "OS_PROJECT_NAME": project or user, "OS_USER_DOMAIN_ID": "default",
              "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_ID": "default",
              "OS_PROJECT_DOMAIN_NAME": "Default", "OS_REGION_NAME": region,
              "OS_INTERFACE": "public"}
    return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in values.items())
