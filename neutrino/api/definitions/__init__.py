"""Attribute maps of the API's resources (Neutron's RESOURCE_ATTRIBUTE_MAP, per module)."""
