"""The extensions the server implements, as ``GET /v2.0/extensions`` lists them."""
UPDATED = "2024-01-01T10:00:00-00:00"

DESCRIPTIONS = {
    "agent": ("agent", "The agent management extension."),
    "allowed-address-pairs": ("Allowed Address Pairs", "Provides allowed address pairs"),
    "binding": ("Port Binding", "Expose port bindings of a virtual port to external application"),
    "empty-string-filtering": ("Empty String Filtering Extension",
                               "Allow filtering by attributes with empty string value"),
    "external-net": ("Neutron external network", "Adds external network attribute to network "
                     "resource."),
    "extra_dhcp_opt": ("Neutron Extra DHCP options", "Extra options configuration for DHCP. "
                       "For example PXE boot options to DHCP clients can be specified"),
    "filter-validation": ("Filter parameters validation",
                          "Provides validation on filter parameters."),
    "net-mtu": ("Network MTU", "Provides MTU attribute for a network resource."),
    "net-mtu-writable": ("Network MTU (writable)", "Provides a writable MTU attribute for a "
                         "network resource."),
    "pagination": ("Pagination support", "Extension that indicates that pagination is enabled."),
    "port-security": ("Port Security", "Provides port security"),
    "project-id": ("project_id field enabled", "Extension that indicates that project_id field "
                   "is enabled."),
    "provider": ("Provider Network", "Expose mapping of virtual networks to physical networks"),
    "revision-if-match": ("If-Match constraints based on revision_number", "Extension indicating "
                          "that If-Match based on revision_number is supported."),
    "sorting": ("Sorting support", "Extension that indicates that sorting is enabled."),
    "standard-attr-description": ("standard-attr-description", "Extension to add descriptions "
                                  "to standard attributes"),
    "standard-attr-revisions": ("Resource revision numbers", "This extension will display the "
                                "revision number of neutron resources."),
    "standard-attr-tag": ("Tag support for resources with standard attribute: subnet, trunk, "
                          "network_segment_range, router, network, policy, subnetpool, port, "
                          "security_group, floatingip",
                          "Enables to set tag on resources with standard attribute."),
    "standard-attr-timestamp": ("Resource timestamps", "Adds created_at and updated_at fields "
                                "to all Neutron resources that have Neutron standard "
                                "attributes."),
}

CORE = ("empty-string-filtering", "filter-validation", "pagination", "project-id",
        "revision-if-match", "sorting", "standard-attr-description",
        "standard-attr-revisions", "standard-attr-tag", "standard-attr-timestamp")


def describe(alias: str) -> dict:
    name, description = DESCRIPTIONS.get(alias, (alias, alias))
    return {"alias": alias, "name": name, "description": description,
            "updated": UPDATED, "links": []}


def register(alias: str, name: str, description: str) -> None:
    """For services that bring their own extension (routers, security groups, ...)."""
    DESCRIPTIONS[alias] = (name, description)
