"""A Keystone v3 subset: what the openstack CLI, openstacksdk and tempest need.

``store.IdentityStore`` keeps projects, users, roles, assignments and tokens in
Neutrino's database; ``app.create_identity_app`` serves them as Keystone's API;
``bootstrap.bootstrap`` creates the admin and demo accounts. The Networking API
validates tokens through ``IdentityStore.context_for`` (see neutrino/api/auth.py).
"""
