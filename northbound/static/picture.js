// The SVG picture of the metro tree: switches by role, fiber links, edge
// ports (the party's interfaces named), and each live service drawn as a
// coloured overlay of the subtree that joins its members. A port that carries
// several services (or a tagged one) lists them under its name, each with its
// customer VLAN.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const COLOURS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4",
                 "#f032e6", "#9a6324", "#808000", "#000075"];
const ROW = { core: 0, aggregation: 1, access: 2 };
const HOLDING = ["accepted", "provisioned", "leaving", "suspended"]; // member states that hold a port
const STACK_Y = 380;  // first line of a port's service list
const STACK_STEP = 14;

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
function drawPortServices(svg, at, key, held) {
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
  svg.appendChild(g);
}

export function drawPicture(svg, topology, services, myInterfaces, myName) {
  const tree = treeOf(topology);
  const mine = new Map(myInterfaces.map((i) => [portKey(i), i]));
  const ports = (topology.edge_ports || []).map((p) => ({ ...p, ...(mine.get(portKey(p)) || {}) }));
  for (const i of myInterfaces) if (!ports.some((p) => portKey(p) === portKey(i))) ports.push(i);
  const { pos, width } = layout(topology, tree, ports);
  svg.replaceChildren();
  const line = (a, b, attrs) => svg.appendChild(svgEl("line", { x1: a.x, y1: a.y, x2: b.x, y2: b.y, ...attrs }));

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
  svg.setAttribute("viewBox", `0 0 ${width} ${440 + extra}`);
  live.forEach((service, k) => {
    const colour = colourOf(service);
    const shift = [0, 4, -4, 8][k % 4]; // side by side where services share a link
    const g = svgEl("g", { class: "service", "data-service": service.name, "data-state": service.state,
                           stroke: colour, transform: `translate(${shift}, ${shift})` });
    g.appendChild(svgEl("title", {}, `${service.name}: ${service.state}`));
    const memberPorts = service.members.filter((m) => m.state !== "failed")
      .map((m) => byName.get(`${m.party}/${m.interface}`)).filter(Boolean);
    const switches = new Set([...Object.keys(service.provisioning || {}), ...memberPorts.map((p) => p.switch)]);
    const span = spanOf(tree, switches);
    for (const link of topology.links) {
      const [a, b] = linkEnds(link);
      if (span.has(a) && span.has(b)) {
        g.appendChild(svgEl("line", { x1: pos.get(a).x, y1: pos.get(a).y, x2: pos.get(b).x, y2: pos.get(b).y, class: "overlay" }));
      }
    }
    for (const p of memberPorts) {
      const a = pos.get(p.switch); const b = pos.get(portKey(p));
      g.appendChild(svgEl("line", { x1: a.x, y1: a.y, x2: b.x, y2: b.y, class: "overlay" }));
    }
    svg.appendChild(g);
  });

  for (const s of topology.switches) {
    const p = pos.get(s.name);
    if (!p) continue;
    const g = svgEl("g", { class: `switch ${s.role}${s.connected ? " connected" : " disconnected"}`,
                           "data-switch": s.name });
    g.appendChild(svgEl("title", {}, `${s.name} (${s.role}, dpid ${s.dpid}) ${s.connected ? "connected" : "not connected"}`));
    g.appendChild(svgEl("rect", { x: p.x - 28, y: p.y - 14, width: 56, height: 28, rx: 6 }));
    g.appendChild(svgEl("text", { x: p.x, y: p.y + 4 }, s.name));
    svg.appendChild(g);
  }
  for (const port of ports) {
    const p = pos.get(portKey(port));
    const own = mine.has(portKey(port));
    // The provider sees every party's interface on the map; a party only its own.
    const iface = own ? { ...port, party: null } : port.interface;
    const held = onPort.get(portKey(port)) || [];
    const shared = listed(held);
    const g = svgEl("g", { class: `${own ? "port mine" : iface ? "port used" : "port"}${shared ? " shared" : ""}`,
                           "data-port": portKey(port) });
    const carries = held.length ? `; ${held.map((h) => `${h.service.name} ${ceVlanText(h.ceVlan)}`).join(", ")}` : "";
    g.appendChild(svgEl("title", {}, iface ? `${iface.party ? iface.party + " " : ""}${iface.name} on ${portKey(port)} (${iface.mac})${carries}` : portKey(port)));
    g.appendChild(svgEl("circle", { cx: p.x, cy: p.y, r: iface ? 9 : 5 }));
    if (iface) g.appendChild(svgEl("text", { x: p.x, y: p.y + 24 }, iface.name));
    svg.appendChild(g);
    if (shared) drawPortServices(svg, p, portKey(port), held);
  }
  drawLegend(svg, live, width, 395 + extra);
}

function drawLegend(svg, live, width, top) {
  live.forEach((service, k) => {
    const colour = colourOf(service);
    const x = 10 + (k % 3) * Math.max(width / 3, 100);
    const y = top + Math.floor(k / 3) * 18;
    const g = svgEl("g", { class: "legend", "data-service": service.name, "data-state": service.state });
    g.appendChild(svgEl("rect", { x, y: y - 10, width: 14, height: 10, fill: colour }));
    g.appendChild(svgEl("text", { x: x + 20, y, "text-anchor": "start" },
                        `${service.name} (vlan ${service.vlan ?? "-"}): ${service.state}`));
    svg.appendChild(g);
  });
}
