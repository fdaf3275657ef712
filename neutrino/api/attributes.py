"""How a resource's attributes are declared: what a client may send, and how it is checked."""
from dataclasses import dataclass
from typing import Any, Callable

from neutrino.api.validators import Validator


@dataclass(frozen=True)
class Attr:
    name: str
    validate: Validator | None = None
    allow_post: bool = False
    allow_put: bool = False
    required: bool = False
    filter: Callable[[str], Any] | None = str
    """Converts one query-string value for filtering; None: not filterable."""
    sortable: bool = True
    visible: bool = True
    """False: a filter only, never in a body (a subnet's ``shared``, its network's); the
    plugin applies such filters itself, the API layer cannot see them in the items."""


@dataclass
class ResourceSpec:
    """One collection of the API, e.g. networks."""
    singular: str
    plural: str
    attributes: dict[str, Attr]
    path: str = ""
    taggable: bool = True
    extensions: tuple[str, ...] = ()
    not_found: Callable[[str], Exception] | None = None
    """Builds the resource's NotFound error from an id (for services that need it)."""

    def __post_init__(self):
        self.path = self.path or self.plural


def attrs(*items: Attr) -> dict[str, Attr]:
    return {a.name: a for a in items}
