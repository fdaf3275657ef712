"""List conventions: filters (repeat = OR), tags filters, fields, sorting, pagination links."""
from dataclasses import dataclass, field
from urllib.parse import urlencode

from neutrino.api.attributes import ResourceSpec
from neutrino.server import exceptions as exc

CONTROL = {"fields", "sort_key", "sort_dir", "limit", "marker", "page_reverse"}
TAG_FILTERS = ("tags", "tags-any", "not-tags", "not-tags-any")


@dataclass
class ListQuery:
    filters: dict[str, list] = field(default_factory=dict)
    tags: dict[str, list[str]] = field(default_factory=dict)
    fields: list[str] = field(default_factory=list)
    sort: list[tuple[str, bool]] = field(default_factory=list)
    limit: int | None = None
    marker: str | None = None
    page_reverse: bool = False


def _bad(msg: str) -> exc.HTTPBadRequest:
    return exc.HTTPBadRequest(msg=msg)


def parse(items: list[tuple[str, str]], spec: ResourceSpec) -> ListQuery:
    """Read a query string (as a list of pairs, repeats kept) against ``spec``."""
    q = ListQuery()
    sort_keys, sort_dirs = [], []
    for key, value in items:
        if key == "fields":
            q.fields.extend(f for f in value.split(",") if f)
        elif key == "sort_key":
            attr = spec.attributes.get(value)
            if attr is None or not attr.sortable:
                raise _bad(f"{value} is an invalid attribute for sort_keys")
            sort_keys.append(value)
        elif key == "sort_dir":
            if value not in ("asc", "desc"):
                raise _bad(f"{value} is an invalid value for sort_dirs, valid values are "
                           "'asc' and 'desc'")
            sort_dirs.append(value)
        elif key == "limit":
            try:
                q.limit = int(value)
            except ValueError:
                raise _bad(f"Limit must be an integer 0 or greater and not '{value}'") from None
            if q.limit < 0:
                raise _bad(f"Limit must be an integer 0 or greater and not '{value}'")
            q.limit = q.limit or None
        elif key == "marker":
            q.marker = value
        elif key == "page_reverse":
            q.page_reverse = value.lower() in ("true", "1")
        elif key in TAG_FILTERS and spec.taggable:
            q.tags.setdefault(key, []).extend(t for t in value.split(",") if t)
        else:
            attr = spec.attributes.get(key)
            if attr is None or attr.filter is None:
                raise _bad(f"[{key}] is invalid attribute for filtering")
            try:
                converted = attr.filter(value) if attr.filter is not str else value
            except ValueError as error:
                raise _bad(f"Invalid input for {key}. Reason: {error}.") from None
            q.filters.setdefault(key, []).append(converted)
    if len(sort_dirs) > len(sort_keys):
        raise _bad("The number of sort_keys and sort_dirs must be same")
    sort_dirs += ["asc"] * (len(sort_keys) - len(sort_dirs))
    q.sort = [(k, d == "desc") for k, d in zip(sort_keys, sort_dirs)]
    return q


def _matches(value, wanted: list) -> bool:
    if isinstance(value, list):
        if value and isinstance(value[0], dict):
            return any(_dict_matches(v, w) for v in value for w in wanted)
        return any(w in value for w in wanted)
    if value is None:
        return any(w in ("", None) for w in wanted)
    return value in wanted


def _dict_matches(item: dict, wanted) -> bool:
    """fixed_ips=ip_address=10.0.0.5 / subnet_id=... / ip_address_substr=..."""
    if not isinstance(wanted, str) or "=" not in wanted:
        return False
    key, _, val = wanted.partition("=")
    if key.endswith("_substr"):
        return val in str(item.get(key[:-len("_substr")], ""))
    return str(item.get(key)) == val


def apply_filters(items: list[dict], q: ListQuery, spec: ResourceSpec | None = None) -> list[dict]:
    out = items
    for attr, wanted in q.filters.items():
        if spec is not None and not spec.attributes[attr].visible:
            continue        # the plugin's to apply
        out = [i for i in out if attr in i and _matches(i[attr], wanted)]
    for kind, tags in q.tags.items():
        wanted = set(tags)
        if kind == "tags":
            out = [i for i in out if wanted <= set(i.get("tags", ()))]
        elif kind == "tags-any":
            out = [i for i in out if wanted & set(i.get("tags", ()))]
        elif kind == "not-tags":
            out = [i for i in out if not wanted <= set(i.get("tags", ()))]
        else:
            out = [i for i in out if not wanted & set(i.get("tags", ()))]
    return out


def _sort_value(value):
    return (value is not None, value if not isinstance(value, (list, dict)) else str(value))


def apply_sort(items: list[dict], q: ListQuery) -> list[dict]:
    sort = q.sort or ([("id", False)] if q.limit or q.marker else [])
    for key, descending in reversed(sort):
        items = sorted(items, key=lambda i: _sort_value(i.get(key)), reverse=descending)
    return items


def paginate(items: list[dict], q: ListQuery) -> tuple[list[dict], bool, bool]:
    """(page, has_next, has_previous) for limit/marker/page_reverse."""
    if q.page_reverse:
        items = list(reversed(items))
    start = 0
    if q.marker:
        ids = [i["id"] for i in items]
        start = ids.index(q.marker) + 1 if q.marker in ids else len(items)
    end = start + q.limit if q.limit else len(items)
    page = items[start:end]
    more = end < len(items)
    if q.page_reverse:
        return list(reversed(page)), q.marker is not None, more
    return page, more, q.marker is not None


def links(base_url: str, items: list[tuple[str, str]], page: list[dict], q: ListQuery,
          has_next: bool, has_previous: bool) -> list[dict]:
    keep = [(k, v) for k, v in items if k not in ("limit", "marker", "page_reverse")]
    out = []
    if page and has_next:
        params = keep + [("limit", str(q.limit)), ("marker", page[-1]["id"])]
        out.append({"href": f"{base_url}?{urlencode(params)}", "rel": "next"})
    if page and has_previous:
        params = keep + [("limit", str(q.limit or len(page))), ("marker", page[0]["id"]),
                         ("page_reverse", "True")]
        out.append({"href": f"{base_url}?{urlencode(params)}", "rel": "previous"})
    return out
