"""The lab's accounts: DevStack's ``admin`` and ``demo``, and tokens for them.

``lab up`` generates one random password per user the first time and keeps
them in ``<state>/auth/passwords.json`` (directory 0700, files 0600); later
runs reuse them. Only ``neutrino lab openrc`` and the clouds.yaml (0600) show
them. ``Credentials`` turns a password into a token from the lab's Keystone,
cached in memory and in ``<state>/auth/token-<user>.json`` so that each
``neutrino instance create`` does not pay a password check (scrypt) again.

Plain http.client, as the API client: importing this stays cheap.
"""
from __future__ import annotations

import datetime
import http.client
import json
import os
import secrets
import threading
import urllib.parse

from neutrino.errors import NeutrinoError
from neutrino.lab import info as lab_info
from neutrino.lab.layout import Lab

ROLES = {"admin": "admin", "demo": "member"}    # user (and project) -> role, as DevStack
DOMAIN_ID = "default"
RENEW_BEFORE = datetime.timedelta(minutes=5)     # a token this close to expiry is renewed


def _write_private(path: str, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600 from the start (atomic replace)."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    os.chmod(os.path.dirname(path), 0o700)
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def read_passwords(lab: Lab) -> dict[str, str]:
    try:
        with open(lab.passwords_file) as f:
            found = json.load(f)
    except (FileNotFoundError, ValueError):
        found = {}
    if not isinstance(found, dict) or set(found) < set(ROLES):
        raise NeutrinoError(f"lab {lab.name} has no accounts yet: run `neutrino lab up`"
                            + ("" if lab.is_default else f" --name {lab.name}"))
    return found


def ensure_passwords(lab: Lab) -> dict[str, str]:
    """The lab's passwords, made (random, 0600) the first time."""
    try:
        return read_passwords(lab)
    except NeutrinoError:
        pass
    passwords = {user: secrets.token_urlsafe(18) for user in ROLES}
    _write_private(lab.passwords_file, json.dumps(passwords, indent=1) + "\n")
    return passwords


def check_user(user: str) -> str:
    if user not in ROLES:
        raise NeutrinoError(f"no lab user {user!r}: the lab has {' and '.join(ROLES)}")
    return user


def write_clouds_yaml(lab: Lab, identity_url: str, passwords: dict[str, str]) -> None:
    """Clouds ``neutrino-admin`` and ``neutrino-demo`` (mode 0600: it holds passwords)."""
    from neutrino.identity.clouds import clouds_yaml
    _write_private(lab.clouds_yaml, clouds_yaml(identity_url, passwords))


def openrc(lab: Lab, user: str) -> str:
    """DevStack's ``export OS_...`` lines for ``user`` of ``lab``."""
    from neutrino.identity.clouds import openrc as openrc_lines
    check_user(user)
    return openrc_lines(lab_info.identity_url(lab), user, read_passwords(lab)[user])


class Credentials:
    """Password -> project-scoped token from Keystone, renewed near its expiry
    or when the API refused it (``token(renew=True)``). Thread-safe.

    Also an httpx auth callable: ``httpx.Client(..., auth=credentials)``.
    """

    def __init__(self, identity_url: str, user: str, password: str,
                 project: str | None = None, cache_file: str | None = None,
                 timeout: float = 10):
        url = urllib.parse.urlsplit(identity_url.rstrip("/"))
        if url.scheme != "http" or not url.hostname:
            raise NeutrinoError(f"bad identity URL {identity_url!r}")
        self.identity_url = identity_url.rstrip("/")
        self.host, self.tcp_port, self.path = url.hostname, url.port or 80, url.path
        self.user, self.password = user, password
        self.project = project or user
        self.cache_file = cache_file
        self.timeout = timeout
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires: datetime.datetime | None = None

    def token(self, renew: bool = False, timeout: float | None = None) -> str:
        with self._lock:
            if renew:
                self._forget()
            elif self._fresh():
                return self._token
            elif self._load_cached() and self._fresh():
                return self._token
            self._token, self._expires = self._issue(timeout or self.timeout)
            if self.cache_file:
                _write_private(self.cache_file, json.dumps(
                    {"token": self._token, "expires_at": self._expires.isoformat()}))
            return self._token

    def __call__(self, request):
        request.headers["X-Auth-Token"] = self.token()
        return request

    def _fresh(self) -> bool:
        now = datetime.datetime.now(datetime.timezone.utc)
        return bool(self._token) and self._expires is not None \
            and self._expires - now > RENEW_BEFORE

    def _forget(self) -> None:
        self._token = self._expires = None
        if self.cache_file:
            try:
                os.unlink(self.cache_file)
            except FileNotFoundError:
                pass

    def _load_cached(self) -> bool:
        if not self.cache_file:
            return False
        try:
            with open(self.cache_file) as f:
                cached = json.load(f)
            self._token = cached["token"]
            self._expires = datetime.datetime.fromisoformat(cached["expires_at"])
            return True
        except (OSError, ValueError, KeyError, TypeError):
            return False

    def _issue(self, timeout: float) -> tuple[str, datetime.datetime]:
        domain = {"id": DOMAIN_ID}
        body = {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": self.user, "domain": domain, "password": self.password}}},
            "scope": {"project": {"name": self.project, "domain": domain}}}}
        resp, raw = self._send("POST", "/auth/tokens", timeout, json.dumps(body).encode(),
                               {"Content-Type": "application/json"})
        token = resp.getheader("X-Subject-Token")
        if resp.status != 201 or not token:
            raise NeutrinoError(f"{self.identity_url}: no token for user {self.user} "
                                f"(HTTP {resp.status})")
        try:
            expires = json.loads(raw)["token"]["expires_at"]
            expires_at = datetime.datetime.fromisoformat(expires.replace("Z", "+00:00"))
        except (ValueError, KeyError, TypeError):
            raise NeutrinoError(f"{self.identity_url}: a token without expires_at") from None
        return token, expires_at


    def get_json(self, path: str) -> dict | None:
        """GET ``path`` of the identity service with this user's token; None on
        404; a refused token is renewed once."""
        for renew in (False, True):
            resp, raw = self._send("GET", path, self.timeout,
                                   headers={"X-Auth-Token": self.token(renew=renew)})
            if resp.status != 401:
                break
        if resp.status == 404:
            return None
        if resp.status != 200:
            raise NeutrinoError(f"{self.identity_url}{path}: HTTP {resp.status}")
        try:
            return json.loads(raw)
        except ValueError:
            raise NeutrinoError(f"{self.identity_url}{path}: not JSON") from None

    def _send(self, method: str, path: str, timeout: float, body: bytes | None = None,
              headers: dict | None = None) -> tuple[http.client.HTTPResponse, bytes]:
        conn = http.client.HTTPConnection(self.host, self.tcp_port, timeout=timeout)
        try:
            conn.request(method, self.path + path, body=body,
                         headers={"Accept": "application/json", **(headers or {})})
            resp = conn.getresponse()
            return resp, resp.read()
        except (OSError, http.client.HTTPException) as exc:
            raise NeutrinoError(f"cannot reach the lab's identity service at "
                                f"{self.identity_url}: {exc}") from None
        finally:
            conn.close()


def credentials(lab: Lab, user: str = "admin") -> Credentials:
    """``user``'s credentials for ``lab`` (a lab that ``lab up`` made)."""
    check_user(user)
    return Credentials(lab_info.identity_url(lab), user, read_passwords(lab)[user],
                       cache_file=lab.token_file(user))


def token(lab: Lab, user: str = "admin") -> str:
    """A valid token of ``user`` (for tests and benches that set the header themselves)."""
    return credentials(lab, user).token()
