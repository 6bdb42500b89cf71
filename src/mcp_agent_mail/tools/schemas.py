"""JSON schemas as clients see them: lean input schemas and compact output schemas.

At the top level of a result (and for the items of a list result) the properties sit under
``allOf`` below a bare ``{"type": "object"}``. The meaning is the same as listing them directly,
but generic clients that turn object schemas with ``properties`` into classes (fastmcp's
``Client`` does) keep handing callers plain dicts.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

S: Schema = {"type": "string"}
I: Schema = {"type": "integer"}  # noqa: E741
B: Schema = {"type": "boolean"}
N: Schema = {"type": "number"}
ANY_OBJ: Schema = {"type": "object"}
STRS: Schema = {"type": "array", "items": S}
INTS: Schema = {"type": "array", "items": I}


def arr(items: Schema) -> Schema:
    """Array of ``items``."""
    return {"type": "array", "items": items}


def obj(**props: Schema) -> Schema:
    """Object with ``props`` (and possibly more keys)."""
    return {"type": "object", "properties": props}


def root(**props: Schema) -> Schema:
    """Like :func:`obj`, for the top level of a result (properties under ``allOf``, see module doc)."""
    return as_root(obj(**props))


def listing(item: Schema) -> Schema:
    """Output schema of a list tool: ``{"result": [item, ...]}``, or ``{"result": "<table text>"}``."""
    return {
        "type": "object",
        "properties": {"result": {"type": ["array", "string"], "items": as_root(item)}},
        "x-fastmcp-wrap-result": True,
    }


def as_root(schema: Schema) -> Schema:
    """Turn an :func:`obj` schema into its :func:`root` form."""
    inner = {key: value for key, value in schema.items() if key != "type"}
    return {"type": "object", "allOf": [inner]}


def _lean_property(prop: Schema) -> Schema:
    prop = {key: value for key, value in prop.items() if key != "title"}
    variants = prop.get("anyOf")
    if isinstance(variants, list):
        kept = [variant for variant in variants if variant != {"type": "null"}]
        if len(kept) < len(variants):
            prop = {key: value for key, value in prop.items() if key != "anyOf"}
            if len(kept) == 1:
                prop = {**kept[0], **prop}
            elif all(set(variant) <= {"type", "items"} for variant in kept):
                merged: Schema = {"type": [variant["type"] for variant in kept]}
                for variant in kept:
                    if "items" in variant:
                        merged["items"] = variant["items"]
                prop = {**merged, **prop}
            else:
                prop["anyOf"] = kept
    if "default" in prop and (prop["default"] is None or prop["default"] is False or prop["default"] == ""):
        del prop["default"]
    return prop


def lean_input_schema(schema: Schema) -> Schema:
    """Drop null alternatives, titles, self-evident defaults (null, false, "") and
    ``additionalProperties`` from a parameter schema.

    An omitted optional parameter and an explicit null mean the same to every tool, so the
    published schema only describes the useful type. Arguments are still validated against
    the function signature, which accepts null and refuses unknown parameters by name.
    """
    properties = {name: _lean_property(prop) for name, prop in schema.get("properties", {}).items()}
    lean = {key: value for key, value in schema.items() if key not in ("title", "properties", "additionalProperties")}
    lean["properties"] = properties
    return lean
