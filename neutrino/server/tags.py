"""The tags sub-resource (standard-attr-tag) for every taggable resource.

A resource is taggable when the plugin has ``_get_<resource>(session, ctx, id)``
returning a model with the standard attributes.
"""
from neutrino.server import exceptions as exc
from neutrino.server import policy

MAX_TAGS = 50


class TagsMixin:
    def _tag_target(self, tx, ctx, resource: str, resource_id: str):
        getter = getattr(self, f"_get_{resource}", None)
        if getter is None:
            raise exc.ResourceNotFound()
        obj = getter(tx.session, ctx, resource_id)
        policy.check_modify(ctx, obj, resource, "update")
        return obj

    def get_tags(self, ctx, resource: str, resource_id: str) -> list[str]:
        with self._read() as session:
            return list(getattr(self, f"_get_{resource}")(session, ctx, resource_id).tags)

    def _change_tags(self, ctx, resource: str, resource_id: str, change) -> list[str]:
        def work(tx):
            obj = self._tag_target(tx, ctx, resource, resource_id)
            tags = change(list(obj.tags or []), obj)
            if len(tags) > MAX_TAGS:
                raise exc.InvalidInput(error_message=f"At most {MAX_TAGS} tags are allowed")
            if tags != obj.tags:
                obj.tags = tags
                obj.bump_revision()
            return list(tags)
        return self._write(work)

    def replace_tags(self, ctx, resource: str, resource_id: str, tags: list[str]) -> list[str]:
        return self._change_tags(ctx, resource, resource_id,
                                 lambda _old, _obj: list(dict.fromkeys(tags)))

    def add_tag(self, ctx, resource: str, resource_id: str, tag: str) -> None:
        self._change_tags(ctx, resource, resource_id,
                          lambda old, _obj: old if tag in old else old + [tag])

    def remove_tag(self, ctx, resource: str, resource_id: str, tag: str) -> None:
        def change(old, obj):
            if tag not in old:
                raise exc.TagNotFound(tag=tag, resource=resource, resource_id=obj.id)
            return [t for t in old if t != tag]
        self._change_tags(ctx, resource, resource_id, change)
