// The SVG picture of the metro tree: switches by role, fiber links, edge
// ports (the party's interfaces named), and each live service drawn as a
// coloured overlay of the subtree that joins its members. A port that carries
// several services (or a tagged one) lists them under its name, each with its
// customer VLAN. Pending offers addressed to the party hang above the tree.
// What the user may act on carries `data-pick` ("interface:NAME", "offer:ID",
// "service:ID"), is focusable and is named for screen readers; app.js answers.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const COLOURS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4",
                 "#f032e6", "#9a6324", "#808000", "#000075"];
const ROW = { core: 0, aggregation: 1, access: 2 };
const HOLDING = ["accepted", "provisioned", "leaving", "suspended"]; // member states that hold a port
const STACK_Y = 380;  // first line of a port's service list
const STACK_STEP = 14;
const LEGEND_STEP = 18;
const OFFER_ROW = 28; // height of a row of offers above the tree

function svgEl(tag, attrs, text) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

// Tree shape: parent of each switch, children in link order, from the links.
function treeOf(topology) {
  const names = topology.switches.map((s) => s.name);
  const adjacent = new Map(names.map((n) => [n, []]));
  for (const link of topology.links) {
    const [a, b] = linkEnds(link);
    adjacent.get(a)?.push(b);
    adjacent.get(b)?.push(a);
  }
  const core = topology.switches.find((s) => s.role === "core") || topology.switches[0];
  const parent = new Map([[core.name, null]]);
  const order = [core.name];
  for (let i = 0; i < order.length; i++) {
    for (const next of adjacent.get(order[i]) || []) {
      if (!parent.has(next)) { parent.set(next, order[i]); order.push(next); }
    }
  }
  return { root: core.name, parent, order, adjacent };
}

// "core1:1" or {switch, port} -> switch name; a link's two ends.
function endSwitch(end) { return typeof end === "string" ? end.split(":")[0] : end.switch; }
function linkEnds(link) {
  const ends = link.ends || [link.a, link.b];
  return [endSwitch(ends[0]), endSwitch(ends[1])];
}

// Every switch on the tree paths between the given switches.
function spanOf(tree, switches) {
  const span = new Set();
  const list = [...switches].filter((s) => tree.parent.has(s));
  const ancestors = (s) => { const out = []; for (let x = s; x !== null; x = tree.parent.get(x)) out.push(x); return out; };
  for (let i = 0; i < list.length; i++) {
    for (let j = i; j < list.length; j++) {
      const up = ancestors(list[i]);
      const other = new Set(ancestors(list[j]));
      const meet = up.find((x) => other.has(x));
      for (const x of up) { span.add(x); if (x === meet) break; }
      for (const x of ancestors(list[j])) { span.add(x); if (x === meet) break; }
    }
  }
  return span;
}

// Positions: leaves (edge ports) left to right, a parent centred over its children.
function layout(topology, tree, ports) {
  const children = new Map(tree.order.map((n) => [n, []]));
  for (const n of tree.order) if (tree.parent.get(n)) children.get(tree.parent.get(n)).push(n);
  const pos = new Map();
  let slot = 0;
  const place = (name) => {
    const kids = children.get(name);
    const own = ports.filter((p) => p.switch === name);
    const xs = [];
    for (const kid of kids) xs.push(place(kid));
    for (const p of own) { pos.set(portKey(p), { x: slot++ * 70 + 40, y: 340 }); xs.push(pos.get(portKey(p)).x); }
    const x = xs.length ? (Math.min(...xs) + Math.max(...xs)) / 2 : slot++ * 70 + 40;
    const role = topology.switches.find((s) => s.name === name).role;
    pos.set(name, { x, y: 50 + 100 * (ROW[role] ?? 2) });
    return x;
  };
  place(tree.root);
  return { pos, width: Math.max(slot * 70 + 10, 300) };
}

// About how wide a text is drawn, for laying labels out side by side.
function textWidth(text, px) { return text.length * px * 0.62; }

// Marks an element as something to click (or focus and press Enter) on.
function pickable(g, pick, label) {
  g.setAttribute("data-pick", pick);
  g.setAttribute("tabindex", "0");
  g.setAttribute("role", "button");
  g.setAttribute("aria-label", label);
  g.classList.add("pick");
}

function portKey(p) { return `${p.switch}:${p.port}`; }
function colourOf(service) { return COLOURS[service.id % COLOURS.length]; }
function ceVlanText(ceVlan) { return ceVlan === null || ceVlan === undefined ? "untagged" : `VLAN ${ceVlan}`; }

// Port key -> the services on that port, [{service, ceVlan}], untagged first then by customer VLAN.
function servicesByPort(live, byName) {
  const onPort = new Map();
  for (const service of live) {
    for (const m of service.members) {
      const port = HOLDING.includes(m.state) && byName.get(`${m.party}/${m.interface}`);
      if (!port) continue;
      const key = portKey(port);
      if (!onPort.has(key)) onPort.set(key, []);
      onPort.get(key).push({ service, ceVlan: m.ce_vlan ?? null });
    }
  }
  for (const list of onPort.values()) list.sort((a, b) => (a.ceVlan ?? 0) - (b.ceVlan ?? 0));
  return onPort;
}

// Only a port shared by several services, or carrying a tagged one, lists them.
function listed(held) { return held.length > 1 || held.some((h) => h.ceVlan !== null); }

// Under the port's name: a marker in each service's colour and its customer VLAN.
function drawPortServices(parent, at, key, held) {
  const g = svgEl("g", { class: "port-services", "data-port": key });
  held.forEach(({ service, ceVlan }, k) => {
    const y = STACK_Y + k * STACK_STEP;
    const row = svgEl("g", { class: "port-service", "data-service": service.name,
                             "data-ce-vlan": ceVlan ?? "untagged" });
    row.appendChild(svgEl("title", {}, `${service.name} on ${key}: ${ceVlanText(ceVlan)}`));
    row.appendChild(svgEl("rect", { x: at.x - 31, y: y - 9, width: 10, height: 10, rx: 2, fill: colourOf(service) }));
    row.appendChild(svgEl("text", { x: at.x - 17, y }, ceVlanText(ceVlan)));
    g.appendChild(row);
  });
  parent.appendChild(g);
}

// `offers`: pending offers addressed to the party, drawn above the tree.
export function drawPicture(svg, topology, services, myInterfaces, myName, offers = []) {
  const tree = treeOf(topology);
  const mine = new Map(myInterfaces.map((i) => [portKey(i), i]));
  const ports = (topology.edge_ports || []).map((p) => ({ ...p, ...(mine.get(portKey(p)) || {}) }));
  for (const i of myInterfaces) if (!ports.some((p) => portKey(p) === portKey(i))) ports.push(i);
  const { pos, width } = layout(topology, tree, ports);
  svg.replaceChildren();
  const band = drawOffers(svg, offers, width);
  const root = svg.appendChild(svgEl("g", { transform: `translate(0, ${band})` }));
  const line = (a, b, attrs) => root.appendChild(svgEl("line", { x1: a.x, y1: a.y, x2: b.x, y2: b.y, ...attrs }));

  for (const link of topology.links) {
    const [a, b] = linkEnds(link);
    if (pos.has(a) && pos.has(b)) {
      line(pos.get(a), pos.get(b), { class: link.up === false ? "link down" : "link" });
    }
  }
  for (const p of ports) line(pos.get(p.switch), pos.get(portKey(p)), { class: "access-line" });

  // "party/interface" -> edge port, for every interface the caller may see.
  const byName = new Map();
  for (const p of ports) {
    if (mine.has(portKey(p))) byName.set(`${myName}/${p.name}`, p);
    else if (p.interface) byName.set(`${p.interface.party}/${p.interface.name}`, p);
  }
  const live = services.filter((s) => s.state !== "deleted");
  const onPort = servicesByPort(live, byName);
  const rows = Math.max(0, ...[...onPort.values()].filter(listed).map((held) => held.length));
  const extra = rows * STACK_STEP; // room between the ports and the legend for the lists
  live.forEach((service, k) => root.appendChild(drawService(service, k, tree, topology, pos, byName, myName)));
  for (const s of topology.switches) if (pos.has(s.name)) root.appendChild(drawSwitch(s, pos.get(s.name)));
  for (const port of ports) {
    const held = onPort.get(portKey(port)) || [];
    root.appendChild(drawPort(port, pos.get(portKey(port)), mine.has(portKey(port)), held));
    if (listed(held)) drawPortServices(root, pos.get(portKey(port)), portKey(port), held);
  }
  const legend = drawLegend(root, live, width, 395 + extra, !!myName);
  svg.setAttribute("viewBox", `0 0 ${legend.width} ${band + legend.bottom + 10}`);
}

// A service: the links of the subtree joining its members, in its colour.
function drawService(service, k, tree, topology, pos, byName, myName) {
  const shift = [0, 4, -4, 8][k % 4]; // side by side where services share a link
  const g = svgEl("g", { class: "service", "data-service": service.name, "data-state": service.state,
                         stroke: colourOf(service), transform: `translate(${shift}, ${shift})` });
  if (myName) g.setAttribute("data-pick", `service:${service.id}`); // the legend is its keyboard way in
  g.appendChild(svgEl("title", {}, `${service.name}: ${service.state}`));
  const memberPorts = service.members.filter((m) => m.state !== "failed")
    .map((m) => byName.get(`${m.party}/${m.interface}`)).filter(Boolean);
  const switches = new Set([...Object.keys(service.provisioning || {}), ...memberPorts.map((p) => p.switch)]);
  const span = spanOf(tree, switches);
  const overlay = (a, b) => g.appendChild(svgEl("line", { x1: a.x, y1: a.y, x2: b.x, y2: b.y, class: "overlay" }));
  for (const link of topology.links) {
    const [a, b] = linkEnds(link);
    if (span.has(a) && span.has(b)) overlay(pos.get(a), pos.get(b));
  }
  for (const p of memberPorts) overlay(pos.get(p.switch), pos.get(portKey(p)));
  return g;
}

function drawSwitch(s, p) {
  const g = svgEl("g", { class: `switch ${s.role}${s.connected ? " connected" : " disconnected"}`,
                         "data-switch": s.name });
  g.appendChild(svgEl("title", {}, `${s.name} (${s.role}, dpid ${s.dpid}) ${s.connected ? "connected" : "not connected"}`));
  g.appendChild(svgEl("rect", { x: p.x - 28, y: p.y - 14, width: 56, height: 28, rx: 6 }));
  g.appendChild(svgEl("text", { x: p.x, y: p.y + 4 }, s.name));
  return g;
}

// An edge port; the party's own are the way to create a service ("free" while untagged is free).
function drawPort(port, p, own, held) {
  // The provider sees every party's interface on the map; a party only its own.
  const iface = own ? { ...port, party: null } : port.interface;
  const free = own && !held.some((h) => h.ceVlan === null);
  const g = svgEl("g", { class: `${own ? "port mine" : iface ? "port used" : "port"}${listed(held) ? " shared" : ""}${free ? " free" : ""}`,
                         "data-port": portKey(port) });
  const carries = held.length ? `; ${held.map((h) => `${h.service.name} ${ceVlanText(h.ceVlan)}`).join(", ")}` : "";
  g.appendChild(svgEl("title", {}, iface ? `${iface.party ? iface.party + " " : ""}${iface.name} on ${portKey(port)} (${iface.mac})${carries}` : portKey(port)));
  g.appendChild(svgEl("circle", { cx: p.x, cy: p.y, r: iface ? 9 : 5 }));
  if (own) {
    g.appendChild(svgEl("text", { x: p.x, y: p.y + 4, class: "plus" }, "+"));
    pickable(g, `interface:${port.name}`, `create a service on ${port.name}`);
  }
  if (iface) g.appendChild(svgEl("text", { x: p.x, y: p.y + 24 }, iface.name));
  return g;
}

// Pending offers addressed to the party, as envelopes in rows above the tree; returns the rows' height.
function drawOffers(svg, offers, width) {
  let x = 10;
  let y = 8;
  for (const offer of offers) {
    const label = `${offer.service_name} from ${offer.owner}`;
    const w = textWidth(label, 12) + 40;
    if (x > 10 && x + w > width) { x = 10; y += OFFER_ROW; }
    const g = svgEl("g", { class: "offer-tag", "data-offer": offer.id });
    g.appendChild(svgEl("title", {}, `offer of ${offer.service_name} from ${offer.owner}: accept or decline`));
    g.appendChild(svgEl("rect", { x, y, width: w, height: OFFER_ROW - 6, rx: 11, class: "tag" }));
    g.appendChild(svgEl("rect", { x: x + 8, y: y + 6, width: 14, height: 10, class: "envelope" }));
    g.appendChild(svgEl("polyline", { points: `${x + 8},${y + 6} ${x + 15},${y + 12} ${x + 22},${y + 6}`, class: "envelope" }));
    g.appendChild(svgEl("text", { x: x + 30, y: y + 15 }, label));
    pickable(g, `offer:${offer.id}`, `offer of ${offer.service_name} from ${offer.owner}`);
    svg.appendChild(g);
    x += w + 8;
  }
  return offers.length ? y + OFFER_ROW + 4 : 0;
}

// One entry per service, in as many columns as the longest entry leaves room for;
// returns the width it needs and the bottom of its last row.
function drawLegend(parent, live, width, top, pick) {
  const labels = live.map((s) => `${s.name} (vlan ${s.vlan ?? "-"}): ${s.state}`);
  const column = Math.max(100, ...labels.map((l) => textWidth(l, 12) + 30));
  const columns = Math.max(1, Math.floor((width - 10) / column));
  live.forEach((service, k) => {
    const x = 10 + (k % columns) * column;
    const y = top + Math.floor(k / columns) * LEGEND_STEP;
    const g = svgEl("g", { class: "legend", "data-service": service.name, "data-state": service.state });
    g.appendChild(svgEl("rect", { x, y: y - 10, width: 14, height: 10, fill: colourOf(service) }));
    g.appendChild(svgEl("text", { x: x + 20, y, "text-anchor": "start" }, labels[k]));
    if (pick) pickable(g, `service:${service.id}`, `service ${service.name}`);
    parent.appendChild(g);
  });
  const rowCount = Math.ceil(live.length / columns);
  return { width: Math.max(width, column + 20), bottom: Math.max(440 - 10, top + rowCount * LEGEND_STEP) };
}
