"""List the differences between two OpenAPI documents, one :class:`Change` per difference.

This is the mechanical half of an API change review: walk two versions of a spec and report what
moved (an operation, a parameter, a body or response field, a type, an enum value, a limit).
Whether each change *breaks* existing clients is the judgement the lesson teaches and the
learner writes; this module deliberately does not decide it.

Each change says on which side of the conversation it happens (``direction``): in what clients
send (``"request"``), in what they receive (``"response"``), or to a whole operation
(``"operation"``). The same kind of change is harmless on one side and breaking on the other.

Example::

    from tpmlab.api.compat import diff
    for change in diff(old_spec, new_spec):
        print(change)
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")

#: Every kind of change :func:`diff` reports.
KINDS = (
    "operation_added",
    "operation_removed",
    "field_added",
    "field_removed",
    "field_became_required",
    "field_became_optional",
    "type_widened",
    "type_narrowed",
    "type_changed",
    "enum_value_added",
    "enum_value_removed",
    "constraint_tightened",
    "constraint_relaxed",
)

# For these limits a smaller new value accepts less (tightens); for the others a larger one.
_UPPER_LIMITS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems")
_LOWER_LIMITS = ("minimum", "exclusiveMinimum", "minLength", "minItems")


@dataclass(frozen=True)
class Change:
    """One difference between two versions of an API.

    Attributes:
        kind: one of :data:`KINDS`.
        direction: ``"request"`` (what clients send), ``"response"`` (what they receive) or
            ``"operation"`` (a whole endpoint).
        operation: e.g. ``"GET /v1/tasks"``.
        location: where in the operation, e.g. ``"query parameter status"`` or
            ``"response 200 body.data[].assignee_id"``.
        required: for fields added or removed, whether the field is (was) required.
        old, new: the values before and after (a type set, an enum value, a limit...).
    """

    kind: str
    direction: str
    operation: str
    location: str = ""
    required: bool | None = None
    old: Any = None
    new: Any = None

    def __str__(self) -> str:
        where = f" at {self.location}" if self.location else ""
        detail = ""
        if self.kind.startswith(("type_", "constraint_")):
            detail = f": {self.old!r} -> {self.new!r}"
        elif self.kind.startswith("enum_"):
            detail = f": {self.new if self.new is not None else self.old!r}"
        elif self.kind.startswith("field_") and self.required is not None:
            detail = " (required)" if self.required else " (optional)"
        return f"[{self.direction}] {self.operation}{where}: {self.kind}{detail}"


# -- schema normalisation -----------------------------------------------------------------------
def _resolve(spec: dict, schema: dict | None, seen: frozenset = frozenset()) -> dict:
    """Inline ``$ref`` (one level at a time, guarding against cycles)."""
    schema = schema or {}
    while "$ref" in schema:
        ref = schema["$ref"]
        if ref in seen or not ref.startswith("#/"):
            return {}
        seen = seen | {ref}
        node: Any = spec
        for part in ref[2:].split("/"):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        merged = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**node, **merged}
    return schema


def _flatten(spec: dict, schema: dict | None) -> dict:
    """Merge ``anyOf``/``oneOf`` alternatives (e.g. ``X | null``) into one view of the schema.

    Returns ``{"types": set, "enum": set|None, "properties": dict, "required": set,
    "items": schema|None, "limits": dict}``.
    """
    schema = _resolve(spec, schema)
    branches = schema.get("anyOf") or schema.get("oneOf")
    view: dict[str, Any] = {
        "types": set(),
        "enum": None,
        "properties": {},
        "required": set(),
        "items": None,
        "limits": {},
    }
    parts = [_resolve(spec, b) for b in branches] if branches else []
    base = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}
    for part in [base, *parts]:
        typ = part.get("type")
        if isinstance(typ, list):
            view["types"].update(typ)
        elif typ:
            view["types"].add(typ)
        if part.get("nullable"):
            view["types"].add("null")
        if "const" in part:
            view["enum"] = (view["enum"] or set()) | {part["const"]}
        if "enum" in part:
            view["enum"] = (view["enum"] or set()) | {v for v in part["enum"] if v is not None}
            if None in part["enum"]:
                view["types"].add("null")
        if "properties" in part:
            view["types"].add("object")
            view["properties"].update(part["properties"])
            view["required"].update(part.get("required", []))
        if "items" in part:
            view["items"] = part["items"]
        for key in _UPPER_LIMITS + _LOWER_LIMITS:
            if key in part:
                view["limits"][key] = part[key]
    if view["enum"] is not None and not view["types"]:
        view["types"].add("string")
    return view


def _types_key(types: set[str]) -> set[str]:
    return set(types) | ({"integer"} if "number" in types else set())


def _compare_types(old: set[str], new: set[str]) -> str | None:
    if old == new or not old or not new:
        return None
    o, n = _types_key(old), _types_key(new)
    if o < n or (o == n and "number" in new):
        return "type_widened"
    if n < o or (o == n and "number" in old):
        return "type_narrowed"
    return "type_changed"


def _compare_schema(
    spec_old: dict,
    spec_new: dict,
    old: dict | None,
    new: dict | None,
    direction: str,
    operation: str,
    location: str,
    depth: int = 0,
) -> Iterator[Change]:
    if depth > 12:
        return
    a, b = _flatten(spec_old, old), _flatten(spec_new, new)
    kind = _compare_types(a["types"], b["types"])
    if kind:
        yield Change(kind, direction, operation, location, old=sorted(a["types"]),
                     new=sorted(b["types"]))  # fmt: skip
        if kind == "type_changed":
            return
    if a["enum"] is not None or b["enum"] is not None:
        old_values = a["enum"] if a["enum"] is not None else set()
        new_values = b["enum"] if b["enum"] is not None else set()
        if a["enum"] is not None and b["enum"] is not None:
            for value in sorted(new_values - old_values, key=str):
                yield Change("enum_value_added", direction, operation, location, new=value)
            for value in sorted(old_values - new_values, key=str):
                yield Change("enum_value_removed", direction, operation, location, old=value)
        elif a["enum"] is None:  # free value became an enum: accepts less
            yield Change("constraint_tightened", direction, operation, location,
                         old="any value", new=sorted(new_values, key=str))  # fmt: skip
        else:
            yield Change("constraint_relaxed", direction, operation, location,
                         old=sorted(old_values, key=str), new="any value")  # fmt: skip
    for key in _UPPER_LIMITS + _LOWER_LIMITS:
        x, y = a["limits"].get(key), b["limits"].get(key)
        if x == y:
            continue
        upper = key in _UPPER_LIMITS
        if x is None:
            tighter = True
        elif y is None:
            tighter = False
        else:
            tighter = (y < x) if upper else (y > x)
        kind = "constraint_tightened" if tighter else "constraint_relaxed"
        yield Change(kind, direction, operation, f"{location} ({key})", old=x, new=y)
    # object properties
    sep = "." if location and not location.endswith(" ") else ""
    for name in sorted(set(a["properties"]) | set(b["properties"])):
        where = f"{location}{sep}{name}"
        in_old, in_new = name in a["properties"], name in b["properties"]
        if in_old and not in_new:
            yield Change("field_removed", direction, operation, where,
                         required=name in a["required"])  # fmt: skip
        elif in_new and not in_old:
            yield Change("field_added", direction, operation, where,
                         required=name in b["required"])  # fmt: skip
        else:
            was, now = name in a["required"], name in b["required"]
            if was and not now:
                yield Change("field_became_optional", direction, operation, where)
            elif now and not was:
                yield Change("field_became_required", direction, operation, where)
            yield from _compare_schema(
                spec_old,
                spec_new,
                a["properties"][name],
                b["properties"][name],
                direction,
                operation,
                where,
                depth + 1,
            )
    if a["items"] is not None and b["items"] is not None:
        yield from _compare_schema(
            spec_old, spec_new, a["items"], b["items"], direction, operation,
            f"{location}[]", depth + 1,
        )  # fmt: skip


def _operations(spec: dict) -> dict[str, dict]:
    ops = {}
    for path, item in (spec.get("paths") or {}).items():
        shared = item.get("parameters", [])
        for method in HTTP_METHODS:
            if method in item:
                op = dict(item[method])
                op["parameters"] = shared + op.get("parameters", [])
                ops[f"{method.upper()} {path}"] = op
    return ops


def _json_schema(spec: dict, holder: dict | None) -> dict | None:
    holder = _resolve(spec, holder or {})
    content = holder.get("content") or {}
    for media, body in content.items():
        if "json" in media:
            return body.get("schema", {})
    return None


def diff(old: dict, new: dict) -> list[Change]:
    """Every difference between OpenAPI documents ``old`` and ``new`` (dicts, e.g. from JSON).

    Compares operations (path + method), parameters (query, path, header, cookie), JSON request
    bodies and JSON response bodies of status codes present in both versions.
    """
    old, new = copy.deepcopy(old), copy.deepcopy(new)
    changes: list[Change] = []
    ops_old, ops_new = _operations(old), _operations(new)
    for op in sorted(set(ops_old) - set(ops_new)):
        changes.append(Change("operation_removed", "operation", op))
    for op in sorted(set(ops_new) - set(ops_old)):
        changes.append(Change("operation_added", "operation", op))
    for op in sorted(set(ops_old) & set(ops_new)):
        a, b = ops_old[op], ops_new[op]
        # parameters
        pa = {(p["in"], p["name"]): p for p in (_resolve(old, x) for x in a["parameters"])}
        pb = {(p["in"], p["name"]): p for p in (_resolve(new, x) for x in b["parameters"])}
        for key in sorted(set(pa) | set(pb)):
            where = f"{key[0]} parameter {key[1]}"
            if key in pa and key not in pb:
                changes.append(
                    Change("field_removed", "request", op, where, required=bool(pa[key].get("required")))
                )  # fmt: skip
            elif key in pb and key not in pa:
                changes.append(
                    Change("field_added", "request", op, where, required=bool(pb[key].get("required")))
                )  # fmt: skip
            else:
                was, now = bool(pa[key].get("required")), bool(pb[key].get("required"))
                if was and not now:
                    changes.append(Change("field_became_optional", "request", op, where))
                elif now and not was:
                    changes.append(Change("field_became_required", "request", op, where))
                changes.extend(
                    _compare_schema(old, new, pa[key].get("schema"), pb[key].get("schema"),
                                    "request", op, where)
                )  # fmt: skip
        # request body
        body_a, body_b = (
            _json_schema(old, a.get("requestBody")),
            _json_schema(new, b.get("requestBody")),
        )
        if body_a is not None and body_b is not None:
            ra = bool(_resolve(old, a.get("requestBody")).get("required"))
            rb = bool(_resolve(new, b.get("requestBody")).get("required"))
            if rb and not ra:
                changes.append(Change("field_became_required", "request", op, "body"))
            changes.extend(_compare_schema(old, new, body_a, body_b, "request", op, "body"))
        elif body_b is not None:
            rb = bool(_resolve(new, b.get("requestBody")).get("required"))
            changes.append(Change("field_added", "request", op, "body", required=rb))
        elif body_a is not None:
            changes.append(Change("field_removed", "request", op, "body", required=True))
        # responses
        resp_a, resp_b = a.get("responses") or {}, b.get("responses") or {}
        for status in sorted(set(resp_a) & set(resp_b), key=str):
            sa, sb = _json_schema(old, resp_a[status]), _json_schema(new, resp_b[status])
            if sa is not None and sb is not None:
                changes.extend(
                    _compare_schema(old, new, sa, sb, "response", op, f"response {status} body")
                )
    return changes
