"""``neutrino web``: the live topology diagram and explain paths in a browser."""
