"""Checking a JSON value against the schemas of an OpenAPI 3.1 document, strictly.

The subset the API's document uses (``$ref``, ``type`` as one name or a list, ``enum``,
``properties``, ``required``, ``items``, ``pattern``, ``minimum``, ``maxLength``), with
one rule stricter than JSON Schema's default: an object whose schema lists its
``properties`` may not carry a key it does not list (an answer that grew a field the
document does not describe fails, so the two cannot drift apart unnoticed).
"""

from __future__ import annotations

import re
from typing import Any

_TYPES = {
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/"), ref
        node: Any = document
        for part in ref[2:].split("/"):
            node = node[part]
        schema = node
    return schema


def problems(
    document: dict[str, Any], schema: dict[str, Any], value: Any, at: str = "$"
) -> list[str]:
    """Every way ``value`` departs from ``schema`` (an empty list: it conforms)."""
    schema = resolve(document, schema)
    out: list[str] = []
    kinds = schema.get("type")
    if kinds is not None:
        names = [kinds] if isinstance(kinds, str) else kinds
        if not any(_TYPES[k](value) for k in names):
            return [f"{at}: {value!r:.60} is not {' or '.join(names)}"]
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{at}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            out.append(f"{at}: {value!r} does not match {schema['pattern']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            out.append(f"{at}: longer than {schema['maxLength']}")
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number and "minimum" in schema and value < schema["minimum"]:
        out.append(f"{at}: {value} is below {schema['minimum']}")
    if isinstance(value, dict) and "properties" in schema:
        props = schema["properties"]
        for name in schema.get("required", []):
            if name not in value:
                out.append(f"{at}: lacks {name}")
        if not schema.get("additionalProperties", False):
            out += [f"{at}: {name} is not documented" for name in value if name not in props]
        for name, sub in props.items():
            if name in value:
                out += problems(document, sub, value[name], f"{at}.{name}")
    if isinstance(value, list) and "items" in schema:
        for n, item in enumerate(value):
            out += problems(document, schema["items"], item, f"{at}[{n}]")
    return out
