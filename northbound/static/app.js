// The metroshare web UI: log in with a token, see the metro tree and your
// services, create / offer / accept / decline / leave / tear down, from the
// forms or by picking on the tree (an interface, an offer, a service opens a
// prompt beside it); see what an offer or an invitation code is for before
// accepting it; add and delete webhooks. The provider manages parties,
// accounts, services and work orders (and sees every webhook), and reads the
// audit log a page at a time. It only calls the
// REST API; every rule is the controller's. It follows the event stream
// (GET /events/stream) and reads again what each event may change; the
// topology alone is also read every 5 s, as a switch's first connection
// records no event and a party sees no event of switches and links.
"use strict";

import { drawPicture } from "/ui/picture.js";

const API = "/api/v1";
const RETRY_MS = 2000;     // before the event stream reconnects, unless it says otherwise
const QUIET_MS = 35000;    // the stream says something every 15 s: quiet longer, it is gone
const TOPOLOGY_MS = 5000;  // switches and links change without an event the page sees
const AUDIT_PAGE = 50;     // events on a page of the audit log
const ETHERNET_KINDS = ["ethernet-channel", "secure-bandwidth"];
const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem("metroshare-token");
let me = null;          // own party view, null for the admin
let session = null;     // this log-in: { stop, timer }, which end its stream and its topology reads
let serviceNames = {};  // service id -> name, to say which service holds an interface
const shown = new Map(); // panel id -> JSON last drawn, so a refresh keeps selections
let loaded = {};        // each part of the page (see READERS) as last read
const pending = new Set(); // parts of the page to read again
let reading = null;     // the reads under way (a promise), or null
const audit = { filters: {}, url: null }; // the audit log's filters and page shown (url null: the newest)
let picked = null;      // what the user picked on the tree: { kind, key }, or null

// An answer other than 2xx; `error` is its body's { code, message }, when it has one.
function httpError(status, error) {
  return Object.assign(new Error(error?.message || `HTTP ${status}`), { status, code: error?.code });
}

async function request(method, url, body) {
  const init = { method, headers: { Authorization: `Bearer ${token}`, Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw httpError(response.status, data.error);
  return { data, link: response.headers.get("Link") };
}

// The URL of the next page in a `Link` header, or null on the last page.
function nextLink(link) {
  const next = /<([^>]+)>; rel="next"/.exec(link || "");
  return next ? next[1] : null;
}

async function api(method, path, body) {
  return (await request(method, API + path, body)).data;
}

// A whole list: the API answers a page at a time, with a Link to the next one.
async function apiList(path) {
  const items = [];
  let url = `${API}${path}?limit=1000`;
  while (url) {
    const { data, link } = await request("GET", url);
    items.push(...data);
    url = nextLink(link);
  }
  return items;
}

function say(text, isError) {
  const box = $("message");
  box.textContent = text;
  box.className = isError ? "error" : "ok";
  box.hidden = !text;
}

// Runs a user action, reports its outcome and refreshes at once.
// A success also closes the prompt it came from.
async function act(label, fn) {
  try {
    const result = await fn();
    say(typeof result === "string" ? result : `${label}: done`, false);
    closePrompt();
  } catch (err) {
    say(failureText(label, err), true);
  }
  await schedule(parts());
}

// Why an action failed; a switch that did not take the change may take it when tried again.
function failureText(label, err) {
  const retry = err.code === "provisioning_failed" ? " — nothing was kept; you may try again" : "";
  return `${label}: ${err.message}${retry}`;
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}

function button(label, onclick) { return el("button", { type: "button", onclick }, label); }
function badge(state) { return el("span", { class: `badge ${state}` }, state); }

function table(headers, rows) {
  return el("table", {}, el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", {}, h)))),
            el("tbody", {}, ...rows.map((r) => el("tr", {}, ...r.map((c) => el("td", {}, c))))));
}

// Redraws a part of the page only when its data changed; `draw` returns the
// new children of element `id`, or nothing when it drew by itself.
function panel(id, data, draw) {
  const json = JSON.stringify(data);
  if (shown.get(id) === json) return;
  shown.set(id, json);
  const nodes = draw(data);
  if (nodes !== undefined) $(id).replaceChildren(...[nodes].flat());
}

// "untagged" or "VLAN 100": the customer VLAN of a member or of a service on an interface.
function ceVlanText(ceVlan) { return ceVlan === null || ceVlan === undefined ? "untagged" : `VLAN ${ceVlan}`; }

// Every service holding an interface, [{id, ce_vlan}], untagged first (`service` alone from an older API).
function holdings(i) {
  if (i.services) return i.services;
  return i.service === null || i.service === undefined ? [] : [{ id: i.service, ce_vlan: null }];
}

// What an interface holds, e.g. "untagged: #3 web; VLAN 100: #5 backup", or "free".
function holdingText(i, names) {
  const held = holdings(i);
  if (!held.length) return "free";
  return held.map((h) => `${ceVlanText(h.ce_vlan)}: #${h.id}${names[h.id] ? ` ${names[h.id]}` : ""}`).join("; ");
}

// Every interface may be chosen: one untagged service and any number of tagged ones share it.
function interfaceOptions(names) {
  return me.interfaces.map((i) => el("option", { value: i.name }, `${i.name} (${i.switch}:${i.port}) — ${holdingText(i, names)}`));
}

function interfaceSelect() {
  return el("select", { class: "iface iface-choice" }, ...interfaceOptions(serviceNames));
}

// "untagged / customer VLAN" and the VLAN ID, as in the forms of index.html.
function vlanChoice() {
  return el("fieldset", { class: "vlan-choice" },
    el("label", {}, "Customer VLAN ", el("select", { name: "vlan_mode" },
      el("option", { value: "untagged" }, "untagged"), el("option", { value: "tagged" }, "customer VLAN"))),
    el("label", {}, "VLAN ID ", el("input", { name: "ce_vlan", type: "number", min: "1", max: "4094", step: "1", disabled: "" })));
}

// The VLAN ID is typed only when a customer VLAN is chosen.
function syncVlanChoice(box) {
  const input = box.querySelector("input[name=ce_vlan]");
  input.disabled = box.querySelector("select[name=vlan_mode]").value !== "tagged";
  input.required = !input.disabled;
}

// The `ce_vlan` part of a request body: nothing when untagged.
function vlanBody(box) {
  if (box.hidden || box.querySelector("select[name=vlan_mode]").value !== "tagged") return {};
  const ceVlan = Number(box.querySelector("input[name=ce_vlan]").value);
  if (!Number.isInteger(ceVlan) || ceVlan < 1 || ceVlan > 4094) throw new Error("a customer VLAN is a number from 1 to 4094");
  return { ce_vlan: ceVlan };
}

// A member's interface and, under it, its customer VLAN ("untagged" or "VLAN 100").
function memberInterface(m) {
  return el("span", {}, m.interface, el("br"),
            el("span", { class: "ce-vlan", title: "customer VLAN" }, ceVlanText(m.ce_vlan)));
}

function serviceCard(s) {
  const owner = s.owner === me.name;
  const card = el("div", { class: "card", "data-service": s.name },
    el("h3", {}, `${s.name} `, badge(s.state)),
    el("p", {}, `#${s.id} ${s.kind}, ${s.attributes.type || ""} ${s.attributes.bandwidth_mbps ?? ""} Mb/s, vlan ${s.vlan ?? "-"}, owner ${s.owner}`),
    table(["party", "interface", "role", "state", ""],
          s.members.map((m) => [m.party, m.interface ? memberInterface(m) : "-", m.role,
                                m.error ? el("span", { title: m.error }, badge(m.state), ` ${m.error}`) : badge(m.state),
                                owner && m.party !== me.name && s.state !== "deleted"
                                  ? button("Remove", () => act("Remove", () => api("DELETE",
                                      `/services/${s.id}/members/${encodeURIComponent(m.party)}`)))
                                  : ""])));
  if (s.state === "deleted") return card;
  if (owner) {
    if (ETHERNET_KINDS.includes(s.kind)) card.append(changeForm(s));
    card.append(offerForm(s), el("div", { class: "actions" },
      button("Invitation code", () => act("Invitation", async () => {
        const offer = await api("POST", `/services/${s.id}/offers`, {});
        return `Invitation code for ${s.name} (shown once): ${offer.code}`;
      })),
      tearDownButton(s)));
  } else {
    card.append(el("div", { class: "actions" }, button("Leave", () => act("Leave",
      () => api("DELETE", `/services/${s.id}/members/${encodeURIComponent(me.name)}`)))));
  }
  return card;
}

// "Offer to" a party by name.
function offerForm(s) {
  const party = el("input", { placeholder: "party name", class: "offer-party", required: "", maxlength: "64" });
  const submit = (ev) => {
    ev.preventDefault();
    act("Offer", async () => {
      await api("POST", `/services/${s.id}/offers`, { party: party.value.trim() });
      return `Offered ${s.name} to ${party.value.trim()}`;
    });
  };
  return el("form", { class: "actions offer-form", onsubmit: submit },
    el("label", {}, "Offer to ", party), el("button", { type: "submit" }, "Offer"));
}

// The owner renames a live ethernet service or changes its bandwidth; only what changed is sent.
function changeForm(s) {
  const name = el("input", { name: "name", value: s.name, required: "", maxlength: "64" });
  const bandwidth = el("input", { name: "bandwidth", type: "number", min: "1", step: "1", required: "",
                                  value: s.attributes.bandwidth_mbps ?? "" });
  const submit = (ev) => {
    ev.preventDefault();
    const body = {};
    if (name.value.trim() !== s.name) body.name = name.value.trim();
    if (Number(bandwidth.value) !== s.attributes.bandwidth_mbps) body.attributes = { bandwidth_mbps: Number(bandwidth.value) };
    act("Change", async () => {
      const changed = await api("PATCH", `/services/${s.id}`, body);
      return `Changed ${changed.name}: ${changed.attributes.bandwidth_mbps} Mb/s`;
    });
  };
  return el("form", { class: "actions change-form", onsubmit: submit },
    el("label", {}, "Name ", name), el("label", {}, "Bandwidth (Mb/s) ", bandwidth),
    el("button", { type: "submit" }, "Change"));
}

// Terms and values as a definition list.
function details(pairs) {
  return el("dl", { class: "details" }, ...pairs.flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, value)]));
}

// What is offered of a service: its type and bandwidth, or the quantity of a utility.
function offeredAttributes({ kind, attributes: a }) {
  if (ETHERNET_KINDS.includes(kind)) return ["Type, bandwidth", `${a.type}, ${a.bandwidth_mbps} Mb/s`];
  return ["Quantity", `${a.quantity} ${a.unit}${a.location ? ` at ${a.location}` : ""}`];
}

// What an offer (or an invitation code) is for: `service` in brief, and when it expires.
function offeredDetails({ service, expires_at: expiresAt }) {
  const members = `${service.members} live member${service.members === 1 ? "" : "s"}`;
  return details([["Service", `${service.name} (#${service.id})`], ["Kind", service.kind], offeredAttributes(service),
    ["Owner", service.owner], ["Members", members],
    ["Expires", el("time", { datetime: expiresAt }, new Date(expiresAt).toLocaleString())]]);
}

function offerRow(o) {
  const incoming = o.party === me.name && o.owner !== me.name;
  const row = el("div", { class: "card offer", "data-offer": o.id },
    el("p", {}, `${o.service_name} from ${o.owner} to ${o.party ?? "anyone with the code"} `, badge(o.state)));
  if (o.state !== "pending") return row;
  if (incoming) {
    row.append(offeredDetails(o));
    const select = interfaceSelect();
    const vlan = vlanChoice();
    row.append(el("div", { class: "actions" }, el("label", {}, "Interface ", select), vlan,
      button("Accept", () => act("Accept", async () => {
        const accepted = await api("POST", `/offers/${o.id}/accept`, { interface: select.value, ...vlanBody(vlan) });
        return `Accepted: ${accepted.service.name} is ${accepted.service.state}`;
      })),
      button("Decline", () => act("Decline", () => api("POST", `/offers/${o.id}/decline`)))));
  } else {
    row.append(el("div", { class: "actions" },
      button("Withdraw", () => act("Withdraw", () => api("DELETE", `/offers/${o.id}`)))));
  }
  return row;
}

function fillInterfaces({ names }) {
  for (const select of document.querySelectorAll(".iface-choice")) {
    const keep = select.value;
    select.replaceChildren(...interfaceOptions(names));
    if (me.interfaces.some((i) => i.name === keep)) select.value = keep;
  }
}

function fillKinds(kinds) {
  const form = $("create-form");
  const select = form.elements.kind;
  const keep = select.value;
  select.replaceChildren(...kinds.map((k) => el("option", { value: k }, k)));
  if (kinds.includes(keep)) select.value = keep;
  showKindFields(form);
}

// Ethernet kinds take a type and a bandwidth; utility kinds a quantity, unit and location.
function showKindFields(form) {
  const ethernet = ETHERNET_KINDS.includes(form.elements.kind.value);
  form.querySelector(".ethernet-fields").hidden = !ethernet;
  form.querySelector(".utility-fields").hidden = ethernet;
  form.querySelector(".vlan-choice").hidden = !ethernet; // only ethernet services take a customer VLAN
}

function submitCreate(ev) {
  ev.preventDefault();
  const form = ev.target;
  const f = form.elements;
  const attributes = ETHERNET_KINDS.includes(f.kind.value)
    ? { type: f.type.value, bandwidth_mbps: Number(f.bandwidth.value) }
    : { quantity: Number(f.quantity.value), unit: f.unit.value.trim(), location: f.location.value.trim() };
  act("Create", async () => {
    const service = await api("POST", "/services", {
      name: f.name.value.trim(), kind: f.kind.value, interface: f.interface.value, attributes,
      ...vlanBody(form.querySelector(".vlan-choice")) });
    f.name.value = "";
    return `Created ${service.name} (#${service.id}), state ${service.state}`;
  });
}

// The create form of the page, fresh, on interface `i`: a customer VLAN is proposed
// when a service already holds it untagged.
function createPrompt(i) {
  const form = $("create-form").cloneNode(true);
  for (const node of [form, ...form.querySelectorAll("[id]")]) node.removeAttribute("id");
  form.reset();
  form.elements.interface.value = i.name;
  form.querySelector(".vlan-choice select[name=vlan_mode]").value = i.service === null ? "untagged" : "tagged";
  syncVlanChoice(form.querySelector(".vlan-choice"));
  showKindFields(form);
  form.addEventListener("submit", submitCreate);
  return form;
}

// An offer picked on the tree: the offer, and who takes part in its service (its
// addressee may read the service meanwhile, without where the members attach).
function offerPrompt(o) {
  const members = el("div", { class: "members-preview" }, el("p", { class: "hint" }, "Reading who takes part…"));
  api("GET", `/services/${o.service_id}`).then(
    (s) => members.replaceChildren(table(["party", "role", "state"], s.members.map((m) => [m.party, m.role, badge(m.state)]))),
    (err) => members.replaceChildren(el("p", { class: "hint" }, `Who takes part is not shown: ${err.message}`)));
  return el("div", {}, offerRow(o), el("h4", {}, "Who takes part"), members);
}

// What a pick on the tree opens: a title, the object it is about, and how to draw it.
function promptFor({ kind, key }) {
  if (kind === "interface") {
    const i = me.interfaces.find((x) => x.name === key);
    return i && { title: `New service on ${i.name}`, data: i, draw: createPrompt };
  }
  if (kind === "offer") {
    const o = loaded.offers.find((x) => String(x.id) === key && x.state === "pending");
    return o && { title: `Offer of ${o.service_name} from ${o.owner}`, data: o, draw: offerPrompt };
  }
  const s = loaded.services.find((x) => String(x.id) === key && x.state !== "deleted");
  return s && { title: `Service ${s.name}`, data: s, draw: serviceCard };
}

// Draws the prompt of the pick, again only when its object changed; closes it when that is gone.
function showPrompt() {
  const found = picked && promptFor(picked);
  if (!found) { closePrompt(); return; }
  $("prompt").hidden = false;
  panel("prompt", [picked, found.data], () => {
    $("prompt-title").textContent = found.title;
    $("prompt-body").replaceChildren(found.draw(found.data));
  });
}

function closePrompt() {
  picked = null;
  shown.delete("prompt");
  $("prompt").hidden = true;
  $("prompt-body").replaceChildren();
}

// A click, or Enter / Space, on something of the tree marked `data-pick="kind:key"`.
function pickOnTree(ev) {
  const target = ev.target.closest("[data-pick]");
  if (!target || !me || (ev.type === "keydown" && ev.key !== "Enter" && ev.key !== " ")) return;
  ev.preventDefault();
  const [kind, key] = target.getAttribute("data-pick").split(/:(.*)/s);
  picked = { kind, key };
  shown.delete("prompt");
  showPrompt();
  $("prompt").querySelector("input:not([type=hidden]), select, button")?.focus();
}

// Redraws the picture; the element of the tree that had the focus keeps it.
function redrawPicture(...args) {
  const focused = document.activeElement?.closest?.("#picture [data-pick]")?.getAttribute("data-pick");
  drawPicture($("picture"), ...args);
  if (focused) $("picture").querySelector(`[tabindex][data-pick="${CSS.escape(focused)}"]`)?.focus();
}

function drawParty({ me: party, services, offers, topology, webhooks }) {
  me = party;
  serviceNames = Object.fromEntries(services.map((s) => [s.id, s.name]));
  $("who").textContent = `${me.name} (account ${me.account.status})`;
  const held = { interfaces: me.interfaces, names: serviceNames };
  panel("interfaces", held, ({ interfaces, names }) => table(["name", "port", "mac", "services"],
    interfaces.map((i) => [i.name, `${i.switch}:${i.port}`, i.mac, holdingText(i, names)])));
  panel("choices", held, fillInterfaces);
  panel("kinds", me.account.service_kinds, fillKinds);
  panel("services", services, (list) => list.length ? list.map(serviceCard) : el("p", {}, "No services yet."));
  panel("offers", offers, (list) => list.length ? list.map(offerRow) : el("p", {}, "No offers."));
  panel("webhooks", webhooks, drawWebhooks);
  const incoming = offers.filter((o) => o.state === "pending" && o.party === me.name && o.owner !== me.name);
  panel("picture", { topology, services, ifaces: me.interfaces, incoming },
        () => redrawPicture(topology, services, me.interfaces, me.name, incoming));
  showPrompt();
}

// Interfaces of a party as the table shows them: "h1@acc1:2 (untagged: #3)".
function interfacesText(p) {
  return p.interfaces.map((i) => `${i.name}@${i.switch}:${i.port}${holdings(i).length ? ` (${holdingText(i, {})})` : ""}`).join(", ");
}

// Edit, suspend or resume, and a new token (shown once; the old one stops working).
function partyActions(p) {
  const suspended = p.account.status === "suspended";
  const status = suspended ? "active" : "suspended";
  return el("div", { class: "actions" },
    button("Edit", () => editParty(p)),
    button(suspended ? "Resume" : "Suspend", () => act(suspended ? "Resume" : "Suspend", async () => {
      await api("PATCH", `/parties/${p.id}`, { account: { status } });
      return `${p.name} is ${status}`;
    })),
    button("New token", () => {
      if (!confirm(`Issue a new token for ${p.name}? Its current token stops working.`)) return;
      act("New token", async () => `New token for ${p.name} (shown once): ${(await api("POST", `/parties/${p.id}/token`)).token}`);
    }));
}

// One interface of the party form; `i` is a party view's interface, or {} for a new one.
function interfaceRow(i) {
  const field = (label, name, attrs, value) => el("label", {}, `${label} `, el("input", { name, value: value ?? "", ...attrs }));
  const row = el("fieldset", { class: "iface-row" }, el("legend", {}, i.name ? `Interface ${i.name}` : "New interface"),
    field("Name", "iface_name", { required: "", maxlength: "64", pattern: "[A-Za-z0-9][A-Za-z0-9_.\\-]*" }, i.name),
    field("Switch", "switch", { required: "", list: "switch-names" }, i.switch),
    field("Port", "port", { required: "", type: "number", min: "1", step: "1" }, i.port),
    field("MAC", "mac", { required: "", pattern: "[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}", placeholder: "00:00:00:00:00:01" }, i.mac),
    field("Location", "location", { maxlength: "200" }, i.location));
  row.append(button("Remove interface", () => row.remove()));
  return row;
}

function interfaceBody(row) {
  const value = (name) => row.querySelector(`[name=${name}]`).value.trim();
  return { name: value("iface_name"), switch: value("switch"), port: Number(value("port")), mac: value("mac"),
           location: value("location") };
}

// The account and the interfaces of the party form, as POST and PATCH /parties take them.
function partyBody(form) {
  const f = form.elements;
  return {
    account: { status: f.status.value, max_bandwidth_mbps: Number(f.max_bandwidth_mbps.value),
               max_channels: Number(f.max_channels.value),
               service_kinds: [...form.querySelectorAll("input[name=kind]:checked")].map((c) => c.value) },
    interfaces: [...form.querySelectorAll(".iface-row")].map(interfaceBody),
  };
}

// The party form edits party `p`, or creates a party when `p` is null.
function setPartyForm(p) {
  const form = $("party-form");
  const f = form.elements;
  form.reset();
  form.dataset.party = p ? p.id : "";
  f.name.readOnly = !!p;
  $("party-form-title").textContent = p ? `Edit ${p.name}` : "Create a party";
  f.save.textContent = p ? "Save" : "Create party";
  f.cancel.hidden = !p;
  $("iface-rows").replaceChildren(...(p ? p.interfaces : [{}]).map(interfaceRow));
  if (!p) return;
  f.name.value = p.name;
  f.status.value = p.account.status;
  f.max_bandwidth_mbps.value = p.account.max_bandwidth_mbps;
  f.max_channels.value = p.account.max_channels;
  for (const box of form.querySelectorAll("input[name=kind]")) box.checked = p.account.service_kinds.includes(box.value);
}

function editParty(p) {
  setPartyForm(p);
  $("party-form").scrollIntoView({ block: "nearest" });
  $("party-form").elements.status.focus();
}

function submitParty(ev) {
  ev.preventDefault();
  const form = ev.target;
  const id = form.dataset.party;
  const body = partyBody(form);
  act(id ? "Save" : "Create party", async () => {
    if (id) {
      const saved = await api("PATCH", `/parties/${id}`, body);
      setPartyForm(null);
      return `Saved ${saved.name}`;
    }
    const created = await api("POST", "/parties", { name: form.elements.name.value.trim(), ...body });
    setPartyForm(null);
    return `Created ${created.name}; its token (shown once): ${created.token}`;
  });
}

function tearDownButton(s) {
  return button("Tear down", () => {
    if (confirm(`Tear down ${s.name}? Its flows are removed for every member.`)) {
      act("Tear down", () => api("DELETE", `/services/${s.id}`));
    }
  });
}

// "quantity: 40, unit: kWh": attributes that wrap in a narrow cell.
function attributesText(attributes) {
  return Object.entries(attributes).map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join(", ");
}

function drawAdmin({ parties, services, orders, topology, webhooks, audit: auditPage }) {
  $("who").textContent = "provider (admin)";
  panel("parties", parties, (list) => table(["name", "account", "kinds", "Mb/s", "channels", "interfaces", ""],
    list.map((p) => [p.name, badge(p.account.status), p.account.service_kinds.join(", "),
      String(p.account.max_bandwidth_mbps), String(p.account.max_channels), interfacesText(p), partyActions(p)])));
  panel("party-names", parties.map((p) => p.name), (names) => names.map((name) => el("option", { value: name })));
  panel("switch-names", topology.switches.map((s) => s.name),
        (names) => names.map((name) => el("option", { value: name })));
  panel("switches", topology.switches, (list) => table(["name", "role", "dpid", "state"],
    list.map((s) => [s.name, s.role, String(s.dpid), badge(s.connected ? "connected" : "disconnected")])));
  panel("admin-services", services, (list) => table(["id", "name", "owner", "kind", "vlan", "state", "members", ""],
    list.map((s) => [String(s.id), s.name, s.owner, s.kind, String(s.vlan ?? "-"), badge(s.state),
      s.members.map((m) => `${m.party}/${m.interface}${m.ce_vlan ? ` VLAN ${m.ce_vlan}` : ""} ${m.state}`).join(", "),
      s.state === "deleted" ? "" : tearDownButton(s)])));
  panel("orders", orders, (list) => list.length ? table(["id", "service", "party", "kind", "attributes", "state", ""],
    list.map((o) => [String(o.id), String(o.service_id), o.party, o.kind, attributesText(o.attributes), badge(o.state),
      o.state === "open" ? button("Fulfil", () => act("Fulfil", () => api("PATCH", `/orders/${o.id}`, { state: "fulfilled" }))) : ""]))
    : el("p", {}, "No work orders."));
  panel("events", auditPage, drawAudit);
  panel("webhooks", webhooks, drawWebhooks);
  panel("picture", { topology, services }, () => redrawPicture(topology, services, [], null));
}

// How each part of the page is read.
const READERS = {
  me: () => api("GET", "/me"),
  services: () => apiList("/services"),
  offers: () => apiList("/offers"),
  parties: () => apiList("/parties"),
  orders: () => apiList("/orders"),
  topology: () => api("GET", "/topology"),
  webhooks: () => apiList("/webhooks"),
  audit: readAudit,
};

// The parts of the page shown: a party's, or the provider's.
function parts() {
  return me ? ["me", "services", "offers", "topology", "webhooks"]
    : ["parties", "services", "orders", "topology", "webhooks", "audit"];
}

// Reads `keys` again soon; what is asked while a read is under way joins the next one.
function schedule(keys) {
  if (!session) return null;
  for (const key of keys) pending.add(key);
  reading ??= drain();
  return reading;
}

async function drain() {
  await null; // the events of one chunk of the stream join one read
  while (pending.size) {
    const keys = [...pending];
    pending.clear();
    await refresh(keys);
  }
  reading = null;
}

// "connected" and "up" of every switch and link, to see them change.
function networkOf(topology) {
  return JSON.stringify([topology.switches.map((s) => s.connected), topology.links.map((l) => l.up)]);
}

// Reads the parts `keys` and redraws what changed, once every part has been read.
async function refresh(keys) {
  const current = session;
  try {
    const values = await Promise.all(keys.map((key) => READERS[key]()));
    if (current !== session) return; // logged out meanwhile
    const before = loaded.topology;
    keys.forEach((key, n) => { loaded[key] = values[n]; });
    // Services turn degraded and back with the network, which a party sees no event of.
    if (before && networkOf(before) !== networkOf(loaded.topology)) schedule(parts());
    if (parts().every((key) => key in loaded)) (me ? drawParty : drawAdmin)(loaded);
  } catch (err) {
    if (current !== session) return;
    if (err.status === 401) logout("Your token is no longer valid.");
    else say(`Refresh failed: ${err.message}`, true);
  }
}

// The parts of the page only some events change: the topology those of a switch, a link
// or a party (its interfaces); the webhooks those of a webhook.
const CHANGED_BY = { topology: /^(switch|link|party)_/, webhooks: /^webhook_/ };

// What an event may change: every other list, and the audit log when it shows its newest page.
function partsOf(action) {
  return parts().filter((key) => (key in CHANGED_BY ? CHANGED_BY[key].test(action) : key !== "audit" || audit.url === null));
}

// One Server-Sent Event's fields, { id, event, data, retry }; comment lines (":") are skipped.
function parseFrame(text) {
  const fields = {};
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith(":")) continue;
    const [, name, value] = /^([^:]*):? ?(.*)$/s.exec(line);
    fields[name] = name === "data" && "data" in fields ? `${fields.data}\n${value}` : value;
  }
  return fields;
}

function onFrame(frame, position) {
  if (/^\d+$/.test(frame.retry ?? "")) position.retry = Number(frame.retry);
  if (frame.id !== undefined) position.last = frame.id;
  if (frame.data !== undefined) schedule(partsOf(frame.event ?? "message"));
}

// A signal that aborts with `signal`, or once `touch` has not been called for QUIET_MS
// (a connection that died without a word); `stop` when done with it.
function watchdog(signal) {
  const controller = new AbortController();
  const abort = () => controller.abort();
  signal.addEventListener("abort", abort);
  let timer = setTimeout(abort, QUIET_MS);
  return {
    signal: controller.signal,
    touch() { clearTimeout(timer); timer = setTimeout(abort, QUIET_MS); },
    stop() { clearTimeout(timer); signal.removeEventListener("abort", abort); },
  };
}

// One connection to the event stream, until it ends: from `position.last` when set.
// Once open, everything is read again (what happened before it, or while it was away).
async function readStream(signal, position) {
  const headers = { Authorization: `Bearer ${token}`, Accept: "text/event-stream" };
  if (position.last !== null) headers["Last-Event-ID"] = position.last;
  const quiet = watchdog(signal);
  try {
    const response = await fetch(`${API}/events/stream`, { headers, signal: quiet.signal, cache: "no-store" });
    if (!response.ok) throw httpError(response.status);
    schedule(parts());
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = ""; // an event not yet whole: chunks split them anywhere
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      quiet.touch();
      const frames = (buffer + value).replace(/\r\n/g, "\n").split("\n\n");
      buffer = frames.pop();
      for (const frame of frames) onFrame(parseFrame(frame), position);
    }
  } finally {
    quiet.stop();
  }
}

// Follows the event stream while the log-in lasts; after it ends or fails, reconnects
// after a pause, from the last event seen, so nothing is missed.
async function follow(signal) {
  const position = { last: null, retry: RETRY_MS };
  while (!signal.aborted) {
    try {
      await readStream(signal, position);
    } catch (err) {
      if (err.status === 401) { logout("Your token is no longer valid."); return; }
    }
    await new Promise((resolve) => setTimeout(resolve, position.retry));
  }
}

function startSession() {
  const stop = new AbortController();
  session = { stop, timer: setInterval(() => schedule(["topology"]), TOPOLOGY_MS) };
  follow(stop.signal);
}

function endSession() {
  if (!session) return;
  session.stop.abort();
  clearInterval(session.timer);
  session = null;
  pending.clear();
  loaded = {};
  shown.clear();
}

// The audit log's URL of its newest page with `filters` ({ party, service, action }, those given).
function auditUrl(filters) {
  return `${API}/events?${new URLSearchParams({ limit: AUDIT_PAGE, ...filters })}`;
}

// The page of the audit log shown; a filter the controller refuses shows its reason.
async function readAudit() {
  try {
    const { data, link } = await request("GET", audit.url ?? auditUrl(audit.filters));
    const filtered = Object.keys(audit.filters).length > 0;
    return { events: data, next: nextLink(link), newest: audit.url === null, filtered };
  } catch (err) {
    if (err.status !== 400) throw err;
    return { events: [], next: null, newest: true, error: err.message };
  }
}

function showAuditPage(url) {
  audit.url = url;
  schedule(["audit"]);
}

// The filters filled in on the audit form.
function auditFilters(form) {
  return Object.fromEntries(["party", "service", "action"]
    .map((name) => [name, form.elements[name].value.trim()]).filter(([, value]) => value));
}

// "Newest events that match: #90 to #41", or why the filters were refused.
function auditCaption({ events, newest, filtered, error }) {
  if (error) return `Not shown: ${error}`;
  const span = events.length ? `#${events[0].id} to #${events.at(-1).id}` : "none";
  return `${newest ? "Newest" : "Older"} events${filtered ? " that match" : ""}: ${span}`;
}

// "Older" is off on the last page, "Newest" on the first; a focused one turned off hands the focus on.
function setPaging({ next, newest }) {
  const older = $("audit-older");
  const newer = $("audit-newest");
  older.disabled = !next;
  newer.disabled = newest;
  if (!document.activeElement?.disabled) return;
  ([older, newer].find((b) => !b.disabled) ?? $("audit-form").elements.party).focus();
}

function drawAudit(page) {
  setPaging(page);
  $("audit-page").textContent = auditCaption(page);
  return table(["#", "at", "actor", "action", "service", "party", "detail"],
    page.events.map((e) => [String(e.id), e.at, e.actor, e.action, String(e.service_id ?? ""), e.party ?? "",
      JSON.stringify(e.detail)]));
}

// The webhooks of the party (the provider: every party's and its own).
function drawWebhooks(list) {
  if (!list.length) return el("p", {}, "No webhooks.");
  return table(["id", "URL", "party", "added", ""],
    list.map((w) => [String(w.id), w.url, w.party ?? "provider", w.created_at, deleteWebhookButton(w)]));
}

function deleteWebhookButton(w) {
  const remove = () => act("Delete webhook", async () => {
    await api("DELETE", `/webhooks/${w.id}`);
    return `Deleted webhook #${w.id}`;
  });
  return el("button", { type: "button", "aria-label": `Delete webhook #${w.id} (${w.url})`, onclick: remove }, "Delete");
}

// A random secret (32 bytes in hex) in the secret field, shown there (and selected to copy) until the webhook is added.
function generateSecret() {
  const input = $("webhook-form").elements.secret;
  input.value = Array.from(crypto.getRandomValues(new Uint8Array(32)), (b) => b.toString(16).padStart(2, "0")).join("");
  input.type = "text";
  input.focus();
  input.select();
}

// The webhook form empty, its secret hidden again.
function resetWebhookForm() {
  const form = $("webhook-form");
  form.reset();
  form.elements.secret.type = "password";
}

function submitWebhook(ev) {
  ev.preventDefault();
  const f = ev.target.elements;
  act("Add webhook", async () => {
    const webhook = await api("POST", "/webhooks", { url: f.url.value.trim(), secret: f.secret.value });
    resetWebhookForm();
    return `Added webhook #${webhook.id} to ${webhook.url}`;
  });
}

// What an invitation code is for, before redeeming it; an unknown, used or expired code says so.
async function previewInvitation() {
  const code = $("redeem-form").elements.code;
  if (!code.reportValidity()) return;
  const box = $("invitation-preview");
  try {
    const preview = await api("POST", "/invitations/preview", { code: code.value.trim() });
    box.replaceChildren(el("p", {}, "This code is for:"), offeredDetails(preview));
  } catch (err) {
    box.replaceChildren(el("p", { class: "error" }, `Preview: ${err.message}`));
  }
}

// The redeem form empty, without a preview.
function resetRedeemForm() {
  const form = $("redeem-form");
  form.reset();
  syncVlanChoice(form.querySelector(".vlan-choice"));
  $("invitation-preview").replaceChildren();
}

async function login(candidate) {
  endSession();
  token = candidate;
  try {
    me = await api("GET", "/me");
  } catch (err) {
    if (err.status === 401) { logout("Unknown token."); return; }
    me = null;
    try { await api("GET", "/parties"); } catch (e) { logout(e.message); return; }
  }
  sessionStorage.setItem("metroshare-token", token);
  $("login").hidden = true;
  $("main").hidden = false;
  $("logout").hidden = false;
  $("party-view").hidden = !me;
  $("admin-view").hidden = !!me;
  $("picture-hint").hidden = !me;
  say("", false);
  startSession();
}

function logout(reason) {
  endSession();
  closePrompt();
  token = null;
  me = null;
  $("audit-form").reset(); // its filters are cleared too
  resetRedeemForm();
  resetWebhookForm(); // a generated secret is not left on the page
  sessionStorage.removeItem("metroshare-token");
  $("login").hidden = false;
  $("main").hidden = true;
  $("logout").hidden = true;
  $("who").textContent = "";
  say(reason || "", !!reason);
}

$("login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  login($("token").value.trim());
  $("token").value = "";
});
$("logout").addEventListener("click", () => logout());
$("create-form").addEventListener("submit", submitCreate);
$("picture").addEventListener("click", pickOnTree);
$("picture").addEventListener("keydown", pickOnTree);
$("prompt-close").addEventListener("click", closePrompt);
$("prompt").addEventListener("keydown", (ev) => { if (ev.key === "Escape") closePrompt(); });
$("party-form").addEventListener("submit", submitParty);
$("party-form").elements.cancel.addEventListener("click", () => setPartyForm(null));
$("audit-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  audit.filters = auditFilters(ev.target);
  showAuditPage(null);
});
$("audit-form").addEventListener("reset", () => {
  audit.filters = {};
  showAuditPage(null);
});
$("audit-older").addEventListener("click", () => showAuditPage(loaded.audit.next));
$("audit-newest").addEventListener("click", () => showAuditPage(null));
$("add-iface").addEventListener("click", () => $("iface-rows").append(interfaceRow({})));
$("redeem-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const f = ev.target.elements;
  act("Invitation", async () => {
    const offer = await api("POST", "/invitations/accept", {
      code: f.code.value.trim(), interface: f.interface.value, ...vlanBody(ev.target.querySelector(".vlan-choice")) });
    resetRedeemForm();
    return `Joined ${offer.service_name}`;
  });
});
$("preview-code").addEventListener("click", previewInvitation);
$("redeem-form").elements.code.addEventListener("input", () => $("invitation-preview").replaceChildren());
$("webhook-form").addEventListener("submit", submitWebhook);
$("webhook-form").elements.generate.addEventListener("click", generateSecret);

document.addEventListener("change", (ev) => {
  if (ev.target.matches(".vlan-choice select[name=vlan_mode]")) syncVlanChoice(ev.target.closest(".vlan-choice"));
  if (ev.target.matches("form select[name=kind]")) showKindFields(ev.target.form);
});

setPartyForm(null);

if (token) login(token);
