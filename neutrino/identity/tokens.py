"""The token body and catalog as keystoneauth, the openstack CLI and tempest read them."""
import hashlib

from neutrino.identity.store import TokenInfo

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
INTERFACES = ("public", "internal", "admin")


def stable_id(*parts: str) -> str:
    """Catalog ids that stay the same across restarts (clients may cache them)."""
    return hashlib.md5("/".join(parts).encode(), usedforsecurity=False).hexdigest()


def catalog(region: str, network_url: str, identity_url: str) -> list[dict]:
    def service(kind: str, name: str, url: str) -> dict:
        return {"id": stable_id(kind), "type": kind, "name": name,
                "endpoints": [{"id": stable_id(kind, interface), "interface": interface,
                               "region": region, "region_id": region, "url": url}
                              for interface in INTERFACES]}
    return [service("network", "neutron", network_url.rstrip("/")),
            service("identity", "keystone", identity_url.rstrip("/"))]


def token_body(info: TokenInfo, audit_id: str, catalog_entries: list[dict] | None) -> dict:
    token = {
        "methods": info.methods,
        "user": info.user,
        "audit_ids": [audit_id],
        "expires_at": info.expires_at.strftime(TIME_FORMAT),
        "issued_at": info.issued_at.strftime(TIME_FORMAT),
    }
    if info.project is not None:
        token["project"] = info.project
        token["is_domain"] = False
        token["roles"] = info.roles
        if catalog_entries is not None:
            token["catalog"] = catalog_entries
    return {"token": token}
