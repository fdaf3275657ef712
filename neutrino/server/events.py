"""A small callback registry so later services hook into core resources.

Routers, security groups and quotas subscribe to events of networks, subnets
and ports instead of the core plugin knowing about them. ``precommit_*``
callbacks run inside the request's transaction with ``tx`` and may raise a
``NeutronException`` to refuse the operation (nothing is committed then).
"""
from collections import defaultdict
from typing import Callable

PRECOMMIT_CREATE = "precommit_create"
PRECOMMIT_UPDATE = "precommit_update"
PRECOMMIT_DELETE = "precommit_delete"
BEFORE_CREATE = "before_create"


class Registry:
    def __init__(self):
        self._subscribers: dict[tuple[str, str], list[Callable]] = defaultdict(list)

    def subscribe(self, resource: str, event: str, callback: Callable) -> None:
        self._subscribers[(resource, event)].append(callback)

    def publish(self, resource: str, event: str, **kwargs) -> None:
        for callback in self._subscribers.get((resource, event), ()):
            callback(resource=resource, event=event, **kwargs)
