import pytest

from neutrino.db.engine import Database
from neutrino.db.migrate import upgrade
from neutrino.db.models import VxlanAllocation
from neutrino.server import exceptions as exc
from neutrino.server import segments
from neutrino.server.config import ServerOptions, parse_vni_ranges
from neutrino.errors import NeutrinoError


@pytest.fixture
def db(db_url):
    database = Database(db_url)
    upgrade(database.engine)
    yield database
    database.dispose()


def test_pool_sync_follows_ranges(db):
    with db.writer() as s:
        segments.sync_vni_pool(s, ServerOptions(vni_ranges=[(1, 3)]))
    with db.writer() as s:
        assert segments.allocate_vni(s, None) == 1
        assert segments.allocate_vni(s, None) == 2
    with db.writer() as s:
        segments.sync_vni_pool(s, ServerOptions(vni_ranges=[(2, 2), (10, 11)]))
    with db.reader() as s:
        rows = {v.vxlan_vni: v.allocated for v in s.query(VxlanAllocation)}
    assert rows == {1: True, 2: True, 10: False, 11: False}


def test_exhaustion_and_release(db):
    options = ServerOptions(vni_ranges=[(5, 6)])
    with db.writer() as s:
        segments.sync_vni_pool(s, options)
        assert [segments.allocate_vni(s, None) for _ in range(2)] == [5, 6]
        with pytest.raises(exc.NoNetworkAvailable):
            segments.allocate_vni(s, None)
        with pytest.raises(exc.TunnelIdInUse):
            segments.allocate_vni(s, 5)
        assert segments.allocate_vni(s, 900) == 900


def test_parse_vni_ranges():
    assert parse_vni_ranges("1:1000, 2000:2001") == [(1, 1000), (2000, 2001)]
    for bad in ("x", "5:1", "0:3", "1:99999999"):
        with pytest.raises(NeutrinoError):
            parse_vni_ranges(bad)
