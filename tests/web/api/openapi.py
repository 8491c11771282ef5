"""The OpenAPI description as a test oracle: a small JSON Schema checker for the subset api/openapi.yaml uses.

The description is read with the loader Guard serves it with (guard.web.shared.openapi), so the tests check the
very document GET /openapi.json answers."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from guard.web.shared.openapi import document

METHODS = ("get", "post", "put", "patch", "delete")
_TYPES: dict[str, Any] = {
    "object": dict, "array": list, "string": str, "boolean": bool, "null": type(None),
    "integer": int, "number": (int, float),
}


def spec() -> dict[str, Any]:
    """The parsed api/openapi.yaml, as Guard serves it."""
    return document()


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """Follow a local $ref."""
    while "$ref" in schema:
        node: Any = spec()
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _is_type(value: Any, name: str) -> bool:
    if name in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[name])


def errors(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """Every way `value` violates `schema` (empty when it conforms)."""
    schema = resolve(schema)
    found: list[str] = []
    types = schema.get("type")
    if types is not None:
        names = types if isinstance(types, list) else [types]
        if not any(_is_type(value, t) for t in names):
            return [f"{path}: {value!r} is not {names}"]
    if "const" in schema and value != schema["const"]:
        found.append(f"{path}: {value!r} != {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{path}: {value!r} not in {schema['enum']}")
    found += _combinators(value, schema, path)
    if isinstance(value, dict):
        found += _object(value, schema, path)
    elif isinstance(value, list):
        found += _array(value, schema, path)
    elif isinstance(value, str):
        found += _string(value, schema, path)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            found.append(f"{path}: {value} < {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            found.append(f"{path}: {value} > {schema['maximum']}")
    return found


def _combinators(value: Any, schema: dict[str, Any], path: str) -> list[str]:
    found: list[str] = []
    if "oneOf" in schema:
        passing = [s for s in schema["oneOf"] if not errors(value, s, path)]
        if len(passing) != 1:
            detail = [e for s in schema["oneOf"] for e in errors(value, s, path)]
            found.append(f"{path}: matches {len(passing)} of oneOf: {detail}")
    if "anyOf" in schema and all(errors(value, s, path) for s in schema["anyOf"]):
        found.append(f"{path}: matches none of anyOf")
    for sub in schema.get("allOf", []):
        found += errors(value, sub, path)
    return found


def _object(value: dict[str, Any], schema: dict[str, Any], path: str) -> list[str]:
    found = [f"{path}: missing {name!r}" for name in schema.get("required", []) if name not in value]
    props = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        found.append(f"{path}: more than {schema['maxProperties']} properties")
    for key, item in value.items():
        if "propertyNames" in schema:
            found += errors(key, schema["propertyNames"], f"{path}.<{key}>")
        if key in props:
            found += errors(item, props[key], f"{path}.{key}")
        elif extra is False:
            found.append(f"{path}: unexpected property {key!r}")
        elif isinstance(extra, dict):
            found += errors(item, extra, f"{path}.{key}")
    return found


def _array(value: list[Any], schema: dict[str, Any], path: str) -> list[str]:
    found = []
    if "minItems" in schema and len(value) < schema["minItems"]:
        found.append(f"{path}: fewer than {schema['minItems']} items")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        found.append(f"{path}: more than {schema['maxItems']} items")
    for index, item in enumerate(value):
        if "items" in schema:
            found += errors(item, schema["items"], f"{path}[{index}]")
    return found


def _string(value: str, schema: dict[str, Any], path: str) -> list[str]:
    found = []
    if "minLength" in schema and len(value) < schema["minLength"]:
        found.append(f"{path}: shorter than {schema['minLength']}")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        found.append(f"{path}: longer than {schema['maxLength']}")
    if "pattern" in schema and not re.search(schema["pattern"], value):
        found.append(f"{path}: {value!r} does not match {schema['pattern']}")
    fmt = schema.get("format")
    try:
        if fmt == "date-time" and datetime.fromisoformat(value).tzinfo is None:
            found.append(f"{path}: {value!r} has no offset")
        elif fmt == "date":
            date.fromisoformat(value)
    except ValueError:
        found.append(f"{path}: {value!r} is not a {fmt}")
    return found


def path_template(rule: str) -> str:
    """A Flask rule as an OpenAPI path: /v1/customers/<customer_id> → /v1/customers/{customer_id}."""
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


def operation(template: str, method: str) -> dict[str, Any]:
    """The OpenAPI operation for a path template and method."""
    return spec()["paths"][template][method.lower()]


def response_problems(template: str, method: str, status: int, content_type: str | None, body: Any,
                      headers: dict[str, str]) -> list[str]:
    """Whether a response conforms to its documented status, media type, headers and schema."""
    responses = operation(template, method)["responses"]
    documented = responses.get(str(status))
    if documented is None:
        return [f"{method} {template}: status {status} is not documented"]
    documented = resolve(documented)
    problems = [f"header {name} missing" for name in documented.get("headers", {}) if name not in headers]
    content = documented.get("content", {})
    if content_type not in content:
        return [*problems, f"{method} {template} {status}: media type {content_type} is not documented"]
    return problems + errors(body, content[content_type]["schema"])
