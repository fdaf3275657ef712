"""Tokens and accounts in the database: issue, validate, revoke, expire, lose a role."""
import datetime

import pytest
from sqlalchemy import update

from neutrino.db.models import Token
from neutrino.identity import errors
from neutrino.identity.store import digest

from tests.identity.conftest import DEMO_PASSWORD


def demo_token(store, accounts):
    user_id = store.check_password({"name": "demo", "domain": {"id": "default"}}, DEMO_PASSWORD)
    return store.issue(user_id, accounts["demo"]["project_id"], ["password"])


def test_token_is_stored_as_a_digest_only(cloud):
    store, db = cloud.store, cloud.service.db
    token, info = demo_token(store, cloud.accounts)
    with db.reader() as session:
        assert session.get(Token, token) is None
        assert session.get(Token, digest(token)) is not None
    assert info.project["name"] == "demo"
    assert set(info.role_names) == {"member", "reader"}


def test_admin_role_implies_member_and_reader(cloud):
    store = cloud.store
    user_id = store.check_password({"name": "admin", "domain": {"name": "Default"}},
                                   "admin-Secret-1")
    _token, info = store.issue(user_id, cloud.accounts["admin"]["project_id"], ["password"])
    assert set(info.role_names) == {"admin", "member", "reader"}


def test_wrong_password_unknown_user_and_disabled_user_look_the_same(cloud):
    store = cloud.store
    with pytest.raises(errors.Unauthorized) as wrong:
        store.check_password({"name": "demo", "domain": {"id": "default"}}, "nope")
    with pytest.raises(errors.Unauthorized) as unknown:
        store.check_password({"name": "ghost", "domain": {"id": "default"}}, "nope")
    assert str(wrong.value) == str(unknown.value)
    store.update_user(cloud.accounts["demo"]["user_id"], {"enabled": False})
    with pytest.raises(errors.Unauthorized):
        store.check_password({"name": "demo", "domain": {"id": "default"}}, DEMO_PASSWORD)


def test_revoked_and_expired_tokens_fail(cloud):
    store, db = cloud.store, cloud.service.db
    token, _ = demo_token(store, cloud.accounts)
    assert store.context_for(token).project_id == cloud.accounts["demo"]["project_id"]
    store.revoke(token)
    assert store.context_for(token) is None
    with pytest.raises(errors.Unauthorized):
        store.validate(token)
    token, _ = demo_token(store, cloud.accounts)
    assert store.context_for(token) is not None
    with db.writer() as session:
        session.execute(update(Token).where(Token.digest == digest(token)).values(
            expires_at=datetime.datetime(2000, 1, 1)))
    store.forget_cached()
    assert store.context_for(token) is None


def test_losing_the_last_role_ends_the_token(cloud):
    store, accounts = cloud.store, cloud.accounts
    token, _ = demo_token(store, accounts)
    member = next(r for r in store.list_roles() if r["name"] == "member")
    store.revoke_grant(accounts["demo"]["project_id"], accounts["demo"]["user_id"], member["id"])
    assert store.context_for(token) is None


def test_deleting_the_user_or_project_ends_its_tokens(cloud):
    store, accounts = cloud.store, cloud.accounts
    token, _ = demo_token(store, accounts)
    store.delete_project(accounts["demo"]["project_id"])
    assert store.context_for(token) is None
    with pytest.raises(errors.NotFound):
        store.get_project(accounts["demo"]["project_id"])


def test_unscoped_token_gives_no_api_context(cloud):
    store = cloud.store
    user_id = store.check_password({"id": cloud.accounts["demo"]["user_id"]}, DEMO_PASSWORD)
    token, info = store.issue(user_id, None, ["password"])
    assert info.project is None and info.roles == []
    assert store.context_for(token) is None


def test_duplicate_names_conflict(cloud):
    with pytest.raises(errors.Conflict):
        cloud.store.create_project("demo")
    with pytest.raises(errors.Conflict):
        cloud.store.create_user("demo", "pw")


def test_expiry_is_capped_by_the_ttl(cloud):
    store = cloud.store
    store.token_ttl = 60
    _token, info = demo_token(store, cloud.accounts)
    assert info.expires_at - info.issued_at == datetime.timedelta(seconds=60)
