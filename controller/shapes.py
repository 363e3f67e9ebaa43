"""The shapes of request bodies, read from the OpenAPI document (the one place
they are written) and checked with JSON Schema 2020-12 (the dialect of OpenAPI
3.1): types, ranges, lengths, patterns, known and required fields.

`check(name, body)` raises 400 `invalid_field` naming the first wrong field by
its path (`interfaces[0].mac`, `account.max_channels`) before anything is read
or written. What a schema cannot say — a unicast MAC, an edge port of the
topology, a name without invisible characters, attributes that depend on the
kind — stays in `controller.validation`, after this.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from controller.errors import ServiceError, invalid

OPENAPI = Path(__file__).resolve().parents[1] / "northbound" / "openapi.json"
_BASE = "urn:metroshare:openapi"


@cache
def document() -> dict[str, Any]:
    return json.loads(OPENAPI.read_text())


@cache
def _validator(name: str) -> Draft202012Validator:
    registry = Registry().with_resource(_BASE, Resource(document(), DRAFT202012))
    return Draft202012Validator({"$ref": f"{_BASE}#/components/schemas/{name}"},
                                registry=registry)


def schema(name: str) -> dict[str, Any]:
    """A request body's schema as the document writes it (`NewService`, ...)."""
    return document()["components"]["schemas"][name]


def check(name: str, body: Any) -> None:
    """400 invalid_field naming the first field of `body` that breaks schema `name`."""
    errors = [_within(e) for e in _validator(name).iter_errors(body)]
    if errors:
        raise _refusal(min(errors, key=lambda e: _reading_order(e, body)))


def _within(error: ValidationError) -> ValidationError:
    """For a value that fits none of several shapes (`oneOf`): the problem within
    the shape it comes closest to (fewest errors; the first on a tie)."""
    while error.validator in ("oneOf", "anyOf") and error.context:
        branches: dict[Any, list[ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        error = best_match(min(branches.values(), key=len), key=_first_in_body)
    return error


def _reading_order(error: ValidationError, body: Any) -> tuple:
    """What a reader of the body meets first: fields in the body's own order (a
    missing or unknown field counts where its object is), and there a missing or
    unknown field before a wrong value."""
    where, value = [], body
    for part in error.absolute_path:
        where.append(list(value).index(part) if isinstance(value, dict) else part)
        value = value[part]
    return (where, error.validator not in ("required", "additionalProperties"))


def _first_in_body(error: ValidationError) -> tuple:
    """Within a shape: a missing or unknown field first, then the shallowest."""
    structural = error.validator in ("required", "additionalProperties", "type")
    return (structural, -len(error.absolute_path))


def _path(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _join(at: str, key: str) -> str:
    return f"{at}.{key}" if at else key


def _refusal(error: ValidationError) -> ServiceError:
    at, kind, rule, value = _path(error.absolute_path), error.validator, error.validator_value, \
        error.instance
    if kind == "required":
        missing = next(key for key in rule if key not in value)
        return invalid(_join(at, missing), "is required")
    if kind == "additionalProperties":
        known = error.schema.get("properties", {})
        return invalid(_join(at, next(key for key in value if key not in known)), "unknown field")
    field = at or "body"
    if kind == "type":
        return invalid(field, f"must be {_kinds(rule)}, got {_shown(value)}")
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return invalid(field, f"must be {_range(error.schema)}, got {value!r}")
    if kind in ("minLength", "maxLength"):
        low, high = error.schema.get("minLength", 0), error.schema.get("maxLength")
        size = f"{low} to {high}" if high is not None else f"at least {low}"
        return invalid(field, f"must be a string of {size} characters")
    if kind == "enum":
        return invalid(field, f"must be one of {', '.join(map(str, rule))}, got {value!r}")
    if kind == "pattern":
        what = error.schema.get("description") or f"a string matching {rule}"
        return invalid(field, f"must be {what}, got {value!r}")
    if kind == "uniqueItems":
        return invalid(field, "lists an item twice")
    if kind in ("maxItems", "minItems"):
        return invalid(field, f"must be a list of {kind[:3]}imum {rule} items")
    return invalid(field, error.message)


_NAMES = {"object": "a JSON object", "array": "a list", "string": "a string",
          "integer": "an integer", "number": "a number", "boolean": "true or false",
          "null": "null"}


def _kinds(rule: str | list[str]) -> str:
    return " or ".join(_NAMES[t] for t in ([rule] if isinstance(rule, str) else rule))


def _shown(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _range(rule: dict[str, Any]) -> str:
    types = rule.get("type", [])
    noun = "an integer" if "integer" in ([types] if isinstance(types, str) else types) \
        else "a number"
    low = _number(rule.get("minimum", rule.get("exclusiveMinimum")))
    high = _number(rule.get("maximum", rule.get("exclusiveMaximum")))
    above = "above" if "exclusiveMinimum" in rule else "from"
    if low is not None and high is not None:
        return f"{noun} {above} {low} to {high}" if above == "from" else \
            f"{noun} above {low} and at most {high}"
    if low is not None:
        return f"{noun} {'above' if above == 'above' else 'of at least'} {low}"
    return f"{noun} of at most {high}"


def _number(value: float | None) -> int | float | None:
    """1e12 as 1000000000000: a bound as a reader writes it."""
    return int(value) if isinstance(value, float) and value.is_integer() else value
