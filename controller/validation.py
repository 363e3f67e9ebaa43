"""Checks of request bodies: first their shape, as the OpenAPI document writes it
(`controller.shapes`: types, ranges, known and required fields), then what a
schema cannot say (a unicast MAC on an edge port of the topology, names
without invisible characters, no control characters in free text, a
customer VLAN only for ethernet kinds, reserved names).

Each function returns the body normalised (MACs lower-case, defaults filled)
or raises 400 `invalid_field` naming the field, before anything is read from
or written to the store. Query parameters use `integer` and `name`.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any
from urllib.parse import urlsplit

from controller import shapes
from controller.errors import invalid
from controller.model import (
    DEFAULT_OFFER_TTL_S,
    ETHERNET_KINDS,
    ORDER_FULFILLED,
)
from topology.model import PortRef, Topology

# Matched with `fullmatch`: `re.match` with `$` also accepts a trailing newline.
# Matched with `fullmatch` here although the schema has the same pattern: a JSON
# Schema `$` (Python's `re.search`) also accepts a trailing newline.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")
MAX_NAME = 64
# What a name may not hold: control characters (Cc), invisible formatting ones (Cf:
# U+200B zero width space, U+202E right-to-left override, U+FEFF ...), lone
# surrogates (Cs) and line or paragraph separators (Zl, Zp).
HIDDEN_CATEGORIES = frozenset(("Cc", "Cf", "Cs", "Zl", "Zp"))
MAX_TEXT = 200


def integer(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid(field, f"must be an integer from {low} to {high}, got {value!r}")
    return value


def text(value: Any, field: str, max_len: int = MAX_TEXT, min_len: int = 1) -> str:
    if not isinstance(value, str) or not min_len <= len(value) <= max_len:
        raise invalid(field, f"must be a string of {min_len} to {max_len} characters")
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in value):
        raise invalid(field, "must not contain control characters or lone surrogates")
    return value


def hidden_character(value: str) -> str | None:
    """The first control or invisible formatting character of `value`, or None."""
    return next((c for c in value if unicodedata.category(c) in HIDDEN_CATEGORIES), None)


def service_name(value: Any, field: str) -> str:
    """1 to 64 characters, none of them control or invisible (a name is shown to others)."""
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_NAME:
        raise invalid(field, f"must be a string of 1 to {MAX_NAME} characters")
    hidden = hidden_character(value)
    if hidden is not None:
        raise invalid(field, f"must not contain control or invisible formatting characters "
                             f"(U+{ord(hidden):04X} at position {value.index(hidden)})")
    return value


def name(value: Any, field: str) -> str:
    """A party or interface name: 1 to 64 of [A-Za-z0-9_.-], matched in full."""
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise invalid(field, "must be 1 to 64 letters, digits, '_', '.' or '-', "
                             f"starting with a letter or digit, got {value!r}")
    return value


def account(body: dict[str, Any]) -> dict[str, Any]:
    """An account as checked by its schema (a partial one for a patch)."""
    return {key: list(value) if key == "service_kinds" else value
            for key, value in body.items()}


def interfaces(body: list[Any], topology: Topology) -> list[dict[str, Any]]:
    """A party's interfaces: unique names, ports and MACs, each on an edge port."""
    out: list[dict[str, Any]] = []
    for i, entry in enumerate(body):
        where = f"interfaces[{i}]"
        iface = {
            "name": name(entry["name"], f"{where}.name"),
            "switch": text(entry["switch"], f"{where}.switch", 64),
            "port": entry["port"],
            "mac": entry["mac"].lower(),
            "location": text(entry.get("location", ""), f"{where}.location", min_len=0),
        }
        if not MAC.fullmatch(iface["mac"]) or int(iface["mac"][:2], 16) & 1 \
                or iface["mac"] == "00:00:00:00:00:00":
            raise invalid(f"{where}.mac", f"must be a unicast MAC like 00:00:00:00:00:01, "
                                          f"got {entry['mac']!r}")
        ref = PortRef(iface["switch"], iface["port"])
        if not topology.is_edge_port(ref):
            raise invalid(where, f"interface '{iface['name']}' is on {ref}, "
                                 "which is not an edge port of the topology")
        for key in ("name", "mac"):
            if any(other[key] == iface[key] for other in out):
                raise invalid(f"{where}.{key}", f"{iface[key]} is listed twice")
        if any((o["switch"], o["port"]) == (iface["switch"], iface["port"]) for o in out):
            raise invalid(where, f"interface '{iface['name']}': port {ref} is listed twice")
        out.append(iface)
    return out


RESERVED_NAMES = ("admin", "system")  # actors of the audit log that are not parties


def new_party(body: Any, topology: Topology) -> dict[str, Any]:
    shapes.check("NewParty", body)
    if body["name"] in RESERVED_NAMES:
        raise invalid("name", f"'{body['name']}' is reserved")
    return {"name": name(body["name"], "name"), "account": account(body["account"]),
            "interfaces": interfaces(body.get("interfaces", []), topology)}


def party_patch(body: Any, topology: Topology) -> dict[str, Any]:
    shapes.check("PartyPatch", body)
    out: dict[str, Any] = {}
    if "account" in body:
        out["account"] = account(body["account"])
    if "interfaces" in body:
        out["interfaces"] = interfaces(body["interfaces"], topology)
    return out


def attributes(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """Ethernet kinds: type and bandwidth; utility kinds: quantity, unit, location
    (their shapes follow the kind in the schema; free text here)."""
    if kind in ETHERNET_KINDS:
        return {"type": body["type"], "bandwidth_mbps": body["bandwidth_mbps"]}
    return {"quantity": body["quantity"], "unit": text(body["unit"], "attributes.unit", 16),
            "location": text(body["location"], "attributes.location")}


def customer_vlan(body: dict[str, Any]) -> int:
    """The optional `ce_vlan` of a checked body: its VID, or 0 when absent or null."""
    return body.get("ce_vlan") or 0


def check_ce_vlan(kind: str, ce_vlan: int) -> None:
    """A customer VLAN selects an ethernet service on a shared port; other kinds have none."""
    if ce_vlan and kind not in ETHERNET_KINDS:
        raise invalid("ce_vlan", f"only ethernet services ({', '.join(ETHERNET_KINDS)}) take a "
                                 f"customer VLAN; this one is {kind}")


def new_service(body: Any) -> dict[str, Any]:
    shapes.check("NewService", body)
    ce_vlan = customer_vlan(body)
    check_ce_vlan(body["kind"], ce_vlan)
    return {"name": service_name(body["name"], "name"), "kind": body["kind"],
            "attributes": attributes(body["kind"], body["attributes"]),
            "interface": name(body["interface"], "interface"), "ce_vlan": ce_vlan}


def service_patch(kind: str, body: Any) -> dict[str, Any]:
    """What an owner may change on a live service: its name, and the bandwidth of
    an ethernet service."""
    shapes.check("ServicePatch", body)
    out: dict[str, Any] = {}
    if "name" in body:
        out["name"] = service_name(body["name"], "name")
    if "attributes" in body:
        if kind not in ETHERNET_KINDS:
            raise invalid("attributes", f"a {kind} service has no attribute that can change")
        out["bandwidth_mbps"] = body["attributes"]["bandwidth_mbps"]
    return out


def new_offer(body: Any) -> dict[str, Any]:
    shapes.check("NewOffer", body)
    return {"party": name(body["party"], "party") if "party" in body else None,
            "expires_in_s": body.get("expires_in_s", DEFAULT_OFFER_TTL_S)}


def acceptance(body: Any) -> tuple[str, int]:
    """The interface and customer VLAN (0: untagged) an acceptance joins on."""
    shapes.check("Acceptance", body)
    return name(body["interface"], "interface"), customer_vlan(body)


def invitation(body: Any) -> tuple[str, str, int]:
    shapes.check("InvitationAcceptance", body)
    return (text(body["code"], "code", 200), name(body["interface"], "interface"),
            customer_vlan(body))


def invitation_code(body: Any) -> str:
    """The code of an invitation to preview: `{"code"}` and nothing else."""
    shapes.check("InvitationCode", body)
    return text(body["code"], "code", 200)


def order_update(body: Any) -> str:
    shapes.check("OrderUpdate", body)
    return ORDER_FULFILLED


MAX_URL = 2000
WEBHOOK_SECRET = (16, 200)  # characters: short secrets are guessable, long ones pointless


def new_webhook(body: Any) -> tuple[str, str]:
    """The URL (http or https, with a host) and the secret a webhook signs with."""
    shapes.check("NewWebhook", body)
    url = text(body["url"], "url", MAX_URL)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is no number or too large
    except ValueError as exc:
        raise invalid("url", f"is not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid("url", "must be an http:// or https:// URL with a host")
    if not url.isascii() or any(c.isspace() for c in url):
        raise invalid("url", "must be ASCII without white space (percent-encode the rest, "
                             "and give an international host name in punycode)")
    return url, text(body["secret"], "secret", WEBHOOK_SECRET[1], WEBHOOK_SECRET[0])
