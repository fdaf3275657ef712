"""Neutrino: OpenStack-style cloud networking (Neutron ML2/OVS) built for real.

Package map (see docs/design.md for the contracts between the parts):

- ``api/``      HTTP: the Networking API v2.0 (ASGI), schemas, Neutron error bodies.
- ``db/``       SQLAlchemy models and Alembic migrations.
- ``server/``   the plugin: IPAM, VNI allocation, port binding, agents, RPC endpoints.
- ``rpc/``      kombu messaging between server and agents (calls and fanout).
- ``agents/``   the OVS (L2) agent and the DHCP agent: desired state -> plan -> driver.
- ``linux/``    the only code that touches netlink, OVSDB, OpenFlow, processes.
- ``lab/``      a cloud on one machine: nodes as namespaces, instances, the outside world.
- ``cli/``      the ``neutrino`` command.
"""
