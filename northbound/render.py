"""JSON and XML rendering of the core's views, chosen by the Accept header.

The core returns JSON-ready dicts; XML is derived from the very same value so
the two can never disagree on fields. Mapping: a dict key becomes a child
element (or `<entry key="...">` when the key is not an XML name, e.g. a
switch called `1a`), a list becomes one child per item named after the
singular of its parent, `None` becomes an empty element with `nil="true"`,
and non-string scalars carry `type="int|float|bool"` so a client can read
them back losslessly.
"""

from __future__ import annotations

import json
import re
from typing import Any
from xml.etree import ElementTree as ET

JSON = "application/json"
XML = "application/xml"
_OFFERS = (JSON, XML, "text/xml")
_XML_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
# Characters XML 1.0 cannot carry even escaped (control characters, lone surrogates).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SINGULAR = {
    "parties": "party", "services": "service", "offers": "offer", "orders": "order",
    "events": "event", "members": "member", "interfaces": "interface",
    "switches": "switch", "links": "link", "edge_ports": "edge_port",
    "service_kinds": "kind", "ends": "end",
}


def negotiate(accept: Any) -> str:
    """JSON unless the client prefers XML (webob's parsed Accept header)."""
    offers = accept.acceptable_offers(_OFFERS)
    return XML if offers and offers[0][0] != JSON else JSON


def render(value: Any, media_type: str, root: str) -> bytes:
    if media_type == XML:
        return to_xml(value, root)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def to_xml(value: Any, root: str) -> bytes:
    element = ET.Element(root)
    _fill(element, value)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(element, encoding="utf-8")


def _fill(element: ET.Element, value: Any) -> None:
    if value is None:
        element.set("nil", "true")
    elif isinstance(value, dict):
        for key, item in value.items():
            key = str(key)
            if _XML_NAME.match(key) and not key.lower().startswith("xml"):
                child = ET.SubElement(element, key)
            else:
                child = ET.SubElement(element, "entry", key=_clean(key))
            _fill(child, item)
    elif isinstance(value, list | tuple):
        element.set("type", "list")
        name = _SINGULAR.get(element.get("key") or element.tag, "item")
        for item in value:
            _fill(ET.SubElement(element, name), item)
    elif isinstance(value, bool):
        element.set("type", "bool")
        element.text = "true" if value else "false"
    elif isinstance(value, int | float):
        element.set("type", "int" if isinstance(value, int) else "float")
        element.text = repr(value)
    else:
        element.text = _clean(str(value))


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)
