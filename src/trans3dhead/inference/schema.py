"""The result-file JSON schema (``prediction_schema.json``) and a small validator for it.

The validator implements the JSON Schema (2020-12) keywords the schema uses -- ``type``, ``enum``,
``properties``, ``required``, ``additionalProperties`` (boolean or schema), ``items``, ``minItems``,
``maxItems``, ``minimum``, ``maximum`` and local ``$ref`` (``#/$defs/...``, applied together with its
sibling keywords) -- so the package needs no ``jsonschema`` dependency.  Other keywords are ignored.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from trans3dhead.errors import InputError

__all__ = ["prediction_schema", "schema_errors", "validate_result", "SCHEMA_FILE"]

SCHEMA_FILE = "prediction_schema.json"

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


@cache
def prediction_schema() -> dict[str, Any]:
    """The schema of a ``trans3dhead predict`` result file (its ``$defs/head`` is one HeadPrediction)."""
    text = resources.files("trans3dhead.inference").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    return json.loads(text)


def _resolve(ref: str, root: dict[str, Any]) -> dict[str, Any]:
    if not ref.startswith("#/"):
        raise ValueError(f"only local $ref values are supported, got {ref!r}")
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def _check_type(value: Any, schema: dict[str, Any], path: str) -> list[str]:
    types = schema.get("type")
    if types is None:
        return []
    names = [types] if isinstance(types, str) else list(types)
    if any(_TYPES[name](value) for name in names):
        return []
    return [f"{path}: expected {' or '.join(names)}, got {type(value).__name__}"]


def _check_object(value: dict, schema: dict, root: dict, path: str) -> list[str]:
    errors = [
        f"{path}: missing required key {key!r}" for key in schema.get("required", []) if key not in value
    ]
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        if key in properties:
            errors += schema_errors(item, properties[key], root=root, path=f"{path}.{key}")
        elif extra is False:
            errors.append(f"{path}: unexpected key {key!r}")
        elif isinstance(extra, dict):
            errors += schema_errors(item, extra, root=root, path=f"{path}.{key}")
    return errors


def _check_array(value: list, schema: dict, root: dict, path: str) -> list[str]:
    errors = []
    if "minItems" in schema and len(value) < schema["minItems"]:
        errors.append(f"{path}: expected at least {schema['minItems']} items, got {len(value)}")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        errors.append(f"{path}: expected at most {schema['maxItems']} items, got {len(value)}")
    if "items" in schema:
        for i, item in enumerate(value):
            errors += schema_errors(item, schema["items"], root=root, path=f"{path}[{i}]")
            if len(errors) > 20:  # a long array of bad points: the first errors say enough
                break
    return errors


def _check_number(value: float, schema: dict, path: str) -> list[str]:
    errors = []
    if "minimum" in schema and value < schema["minimum"]:
        errors.append(f"{path}: {value} is below the minimum {schema['minimum']}")
    if "maximum" in schema and value > schema["maximum"]:
        errors.append(f"{path}: {value} is above the maximum {schema['maximum']}")
    return errors


def schema_errors(
    value: Any, schema: dict[str, Any], *, root: dict[str, Any] | None = None, path: str = "$"
) -> list[str]:
    """Every violation of ``schema`` by ``value``, as ``"<path>: <what is wrong>"`` strings."""
    root = schema if root is None else root
    errors: list[str] = []
    if "$ref" in schema:
        errors += schema_errors(value, _resolve(schema["$ref"], root), root=root, path=path)
    type_errors = _check_type(value, schema, path)
    if type_errors:
        return errors + type_errors
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, dict):
        errors += _check_object(value, schema, root, path)
    elif isinstance(value, list):
        errors += _check_array(value, schema, root, path)
    elif _TYPES["number"](value):
        errors += _check_number(value, schema, path)
    return errors


def validate_result(document: Any, *, definition: str | None = None) -> None:
    """Raise a ValueError listing the violations of a result file (or of ``$defs/<definition>``)."""
    root = prediction_schema()
    schema = root if definition is None else {"$ref": f"#/$defs/{definition}"}
    errors = schema_errors(document, schema, root=root)
    if errors:
        more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
        raise InputError("invalid prediction document: " + "; ".join(errors[:10]) + more)
