"""Strict checks of request bodies: types, ranges, known fields only.

Each function returns the body normalised (MACs lower-case, defaults filled)
or raises 400 `invalid_field` naming the field, before anything is read from
or written to the store.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any
from urllib.parse import urlsplit

from controller.errors import invalid
from controller.model import (
    ACCOUNT_STATUSES,
    DEFAULT_OFFER_TTL_S,
    ETHERNET_KINDS,
    KINDS,
    MAX_BANDWIDTH_MBPS,
    MAX_OFFER_TTL_S,
    ORDER_FULFILLED,
    SERVICE_TYPES,
)
from topology.model import PortRef, Topology

# Matched with `fullmatch`: `re.match` with `$` also accepts a trailing newline.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")
MAX_NAME = 64
# What a name may not hold: control characters (Cc), invisible formatting ones (Cf:
# U+200B zero width space, U+202E right-to-left override, U+FEFF ...), lone
# surrogates (Cs) and line or paragraph separators (Zl, Zp).
HIDDEN_CATEGORIES = frozenset(("Cc", "Cf", "Cs", "Zl", "Zp"))
MAX_CHANNELS = 100_000
MAX_TEXT = 200
MAX_QUANTITY = 1e12


def fields(body: Any, where: str, required: tuple[str, ...],
           optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """The body as a dict with every required key and no unknown one."""
    if not isinstance(body, dict):
        raise invalid(where or "body", "must be a JSON object")
    for key in body:
        if key not in required and key not in optional:
            raise invalid(_join(where, key), "unknown field")
    for key in required:
        if key not in body:
            raise invalid(_join(where, key), "is required")
    return body


def _join(where: str, key: object) -> str:
    return f"{where}.{key}" if where else str(key)


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


def account(body: Any, where: str, partial: bool = False) -> dict[str, Any]:
    keys = ("status", "service_kinds", "max_bandwidth_mbps", "max_channels")
    body = fields(body, where, () if partial else keys, keys if partial else ())
    out: dict[str, Any] = {}
    if "status" in body:
        if body["status"] not in ACCOUNT_STATUSES:
            raise invalid(f"{where}.status", f"must be one of {', '.join(ACCOUNT_STATUSES)}")
        out["status"] = body["status"]
    if "service_kinds" in body:
        kinds = body["service_kinds"]
        field = f"{where}.service_kinds"
        if not isinstance(kinds, list) or any(k not in KINDS for k in kinds):
            raise invalid(field, f"must be a list of kinds among {', '.join(KINDS)}")
        if len(set(kinds)) != len(kinds):
            raise invalid(field, "lists a kind twice")
        out["service_kinds"] = list(kinds)
    if "max_bandwidth_mbps" in body:
        out["max_bandwidth_mbps"] = integer(body["max_bandwidth_mbps"],
                                            f"{where}.max_bandwidth_mbps", 0, MAX_BANDWIDTH_MBPS)
    if "max_channels" in body:
        out["max_channels"] = integer(body["max_channels"], f"{where}.max_channels",
                                      0, MAX_CHANNELS)
    return out


def interfaces(body: Any, topology: Topology) -> list[dict[str, Any]]:
    """A party's interfaces: unique names, ports and MACs, each on an edge port."""
    if not isinstance(body, list) or len(body) > 1000:
        raise invalid("interfaces", "must be a list of at most 1000 interfaces")
    out: list[dict[str, Any]] = []
    for i, entry in enumerate(body):
        where = f"interfaces[{i}]"
        # What a party view adds (`service`, `services`) is ignored: a view can be sent back.
        entry = fields(entry, where, ("name", "switch", "port", "mac"),
                       ("location", "service", "services"))
        iface = {
            "name": name(entry["name"], f"{where}.name"),
            "switch": text(entry["switch"], f"{where}.switch", 64),
            "port": integer(entry["port"], f"{where}.port", 1, 0xFFFFFF00),
            "mac": text(entry["mac"], f"{where}.mac", 17).lower(),
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
    body = fields(body, "", ("name", "account"), ("interfaces",))
    if body["name"] in RESERVED_NAMES:
        raise invalid("name", f"'{body['name']}' is reserved")
    return {
        "name": name(body["name"], "name"),
        "account": account(body["account"], "account"),
        "interfaces": interfaces(body.get("interfaces", []), topology),
    }


def party_patch(body: Any, topology: Topology) -> dict[str, Any]:
    body = fields(body, "", (), ("account", "interfaces"))
    out: dict[str, Any] = {}
    if "account" in body:
        out["account"] = account(body["account"], "account", partial=True)
    if "interfaces" in body:
        out["interfaces"] = interfaces(body["interfaces"], topology)
    return out


def attributes(kind: str, body: Any) -> dict[str, Any]:
    """Ethernet kinds: type and bandwidth; utility kinds: quantity, unit, location."""
    if kind in ETHERNET_KINDS:
        body = fields(body, "attributes", ("type", "bandwidth_mbps"))
        if body["type"] not in SERVICE_TYPES:
            raise invalid("attributes.type", f"must be one of {', '.join(SERVICE_TYPES)}")
        return {"type": body["type"],
                "bandwidth_mbps": integer(body["bandwidth_mbps"], "attributes.bandwidth_mbps",
                                          1, MAX_BANDWIDTH_MBPS)}
    body = fields(body, "attributes", ("quantity", "unit", "location"))
    quantity = body["quantity"]
    if isinstance(quantity, bool) or not isinstance(quantity, int | float) \
            or not 0 < quantity <= MAX_QUANTITY:
        raise invalid("attributes.quantity", f"must be a number above 0 and at most "
                                             f"{MAX_QUANTITY:g}, got {quantity!r}")
    return {"quantity": quantity, "unit": text(body["unit"], "attributes.unit", 16),
            "location": text(body["location"], "attributes.location")}


def customer_vlan(body: dict[str, Any]) -> int:
    """The optional `ce_vlan` of a body: 1..4094, or 0 when absent or null (untagged)."""
    value = body.get("ce_vlan")
    return 0 if value is None else integer(value, "ce_vlan", 1, 4094)


def check_ce_vlan(kind: str, ce_vlan: int) -> None:
    """A customer VLAN selects an ethernet service on a shared port; other kinds have none."""
    if ce_vlan and kind not in ETHERNET_KINDS:
        raise invalid("ce_vlan", f"only ethernet services ({', '.join(ETHERNET_KINDS)}) take a "
                                 f"customer VLAN; this one is {kind}")


def new_service(body: Any) -> dict[str, Any]:
    body = fields(body, "", ("name", "kind", "attributes", "interface"), ("ce_vlan",))
    if body["kind"] not in KINDS:
        raise invalid("kind", f"must be one of {', '.join(KINDS)}, got {body['kind']!r}")
    ce_vlan = customer_vlan(body)
    check_ce_vlan(body["kind"], ce_vlan)
    return {"name": service_name(body["name"], "name"), "kind": body["kind"],
            "attributes": attributes(body["kind"], body["attributes"]),
            "interface": name(body["interface"], "interface"), "ce_vlan": ce_vlan}


def service_patch(kind: str, body: Any) -> dict[str, Any]:
    """What an owner may change on a live service: its name, and the bandwidth of
    an ethernet service."""
    body = fields(body, "", (), ("name", "attributes"))
    out: dict[str, Any] = {}
    if "name" in body:
        out["name"] = service_name(body["name"], "name")
    if "attributes" in body:
        if kind not in ETHERNET_KINDS:
            raise invalid("attributes", f"a {kind} service has no attribute that can change")
        attrs = fields(body["attributes"], "attributes", ("bandwidth_mbps",))
        out["bandwidth_mbps"] = integer(attrs["bandwidth_mbps"], "attributes.bandwidth_mbps",
                                        1, MAX_BANDWIDTH_MBPS)
    return out


def new_offer(body: Any) -> dict[str, Any]:
    body = fields(body, "", (), ("party", "expires_in_s"))
    return {"party": name(body["party"], "party") if "party" in body else None,
            "expires_in_s": integer(body.get("expires_in_s", DEFAULT_OFFER_TTL_S),
                                    "expires_in_s", 1, MAX_OFFER_TTL_S)}


def acceptance(body: Any) -> tuple[str, int]:
    """The interface and customer VLAN (0: untagged) an acceptance joins on."""
    body = fields(body, "", ("interface",), ("ce_vlan",))
    return name(body["interface"], "interface"), customer_vlan(body)


def invitation(body: Any) -> tuple[str, str, int]:
    body = fields(body, "", ("code", "interface"), ("ce_vlan",))
    return (text(body["code"], "code", 200), name(body["interface"], "interface"),
            customer_vlan(body))


def invitation_code(body: Any) -> str:
    """The code of an invitation to preview: `{"code"}` and nothing else."""
    return text(fields(body, "", ("code",))["code"], "code", 200)


def order_update(body: Any) -> str:
    body = fields(body, "", ("state",))
    if body["state"] != ORDER_FULFILLED:
        raise invalid("state", f"must be '{ORDER_FULFILLED}', got {body['state']!r}")
    return ORDER_FULFILLED


MAX_URL = 2000
WEBHOOK_SECRET = (16, 200)  # characters: short secrets are guessable, long ones pointless


def new_webhook(body: Any) -> tuple[str, str]:
    """The URL (http or https, with a host) and the secret a webhook signs with."""
    body = fields(body, "", ("url", "secret"))
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
