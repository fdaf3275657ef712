"""Network lists: subnet ids in creation order, read without ORM objects."""
from contextlib import contextmanager

from neutrino.server.context import Context

ADMIN = Context.admin()


def test_a_list_shows_subnets_in_order_and_leaves_out_networks_made_meanwhile(
        plugin, monkeypatch):
    net = plugin.create_network(ADMIN, {"name": "a"})
    subnets = [plugin.create_subnet(ADMIN, {"network_id": net["id"], "cidr": cidr,
                                            "ip_version": version})["id"]
               for cidr, version in (("10.1.0.0/24", 4), ("fd01::/64", 6), ("10.0.0.0/24", 4))]
    made = []

    def make_late_network():
        late = plugin.create_network(ADMIN, {"name": "late"})
        plugin.create_subnet(ADMIN, {"network_id": late["id"], "cidr": "10.2.0.0/24",
                                     "ip_version": 4})
        made.append(late)

    class Rows(list):
        def all(self):
            return list(self)

    class Connection:
        """Runs a statement, then (once) makes a network before the next one."""
        def __init__(self, conn):
            self.conn = conn

        def execute(self, *args, **kwargs):
            rows = Rows(self.conn.execute(*args, **kwargs).all())
            if not made:
                make_late_network()
            return rows

    class Session:
        def __init__(self, session):
            self.session = session

        def connection(self):
            return Connection(self.session.connection())

    real_read = plugin._read

    @contextmanager
    def read():
        with real_read() as session:
            yield Session(session)

    monkeypatch.setattr(plugin, "_read", read)
    (listed,) = plugin.get_networks(ADMIN)
    monkeypatch.undo()
    assert made and listed["id"] == net["id"]
    assert listed["subnets"] == subnets
    assert {n["name"] for n in plugin.get_networks(ADMIN)} == {"a", "late"}
