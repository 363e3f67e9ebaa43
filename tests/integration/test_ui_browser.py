"""The web UI in Debian's Chromium, on the real controller with the Mininet metro tree:
A creates a point-to-point service and offers it to B; B accepts; the picture shows
the service active, and A's host pings B's. Two services share one interface by
customer VLAN (EVPL). A whole party flow goes through the picture (interface, service
and offer prompts), and the provider manages parties, tokens, work orders and services. The pages
follow the event stream rather than polling; the provider filters and pages the
audit log. An addressee sees what an offer is for before accepting it, a code is
previewed before it is redeemed, and a party adds and deletes a webhook.
Screenshots go to artifacts/."""

from __future__ import annotations

import fcntl
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from mininet_scenarios.network import MetroNetwork
from tests.conftest import NETWORK_LOCK
from tests.harness import METRO_YAML, ROOT, Controller, running_controller
from tests.integration.test_api_server import ADMIN
from topology import load_topology

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "artifacts"

CONNECT_BOUND_S = 20

pytestmark = [pytest.mark.browser, pytest.mark.network]


@pytest.fixture(scope="module")
def browser() -> Iterator:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"browser tests need Debian's chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def metro(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Controller, object]]:
    """The controller with every switch of the metro tree connected, and the network."""
    topology = load_topology(METRO_YAML)
    with open(NETWORK_LOCK, "w") as lock, running_controller(
            tmp_path_factory.mktemp("ui"), admin_token=ADMIN) as controller:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with MetroNetwork(topology, ("127.0.0.1", controller.ofp_port)) as net:
            deadline = time.monotonic() + CONNECT_BOUND_S
            while controller.call("GET", "/healthz", None).json()["switches_connected"] < 7:
                assert time.monotonic() < deadline, "the metro tree did not connect"
                time.sleep(0.2)
            yield controller, net


@pytest.fixture(scope="module")
def server(metro: tuple[Controller, object]) -> Controller:
    return metro[0]


def log_in(browser, server: Controller, token: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    page.goto(server.url + "/")
    page.fill("#token", token)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#main:not([hidden])")
    page.errors = errors
    return page


def test_offer_and_accept_in_the_browser(browser, metro) -> None:
    server, net = metro
    ARTIFACTS.mkdir(exist_ok=True)
    alpha = server.party("alpha", [("alpha-h1", "acc1", 2, "00:00:00:00:00:01")])
    bravo = server.party("bravo", [("bravo-h8", "acc4", 3, "00:00:00:00:00:08")])

    a = log_in(browser, server, alpha)
    a.wait_for_selector("#create-form select[name=interface] option[value=alpha-h1]",
                        state="attached")
    a.fill("#create-form input[name=name]", "alpha-bravo")
    a.select_option("#create-form select[name=type]", "point-to-point")
    a.fill("#create-form input[name=bandwidth]", "100")
    a.click("#create-form button[type=submit]")
    card = a.wait_for_selector(".card[data-service=alpha-bravo]")
    assert "pending" in card.inner_text()
    card.query_selector("input.offer-party").fill("bravo")
    card.query_selector("button:text('Offer')").click()
    a.wait_for_selector("#message.ok:has-text('Offered alpha-bravo to bravo')")
    a.wait_for_selector(".offer:has-text('pending')")

    b = log_in(browser, server, bravo)
    offer = b.wait_for_selector(".offer:has-text('alpha-bravo')")
    offer.query_selector("select").select_option("bravo-h8")
    offer.query_selector("button:text('Accept')").click()
    b.wait_for_selector("#picture g.legend[data-service=alpha-bravo][data-state=active]")
    b.wait_for_selector("#picture g.service[data-service=alpha-bravo] line.overlay")
    # four fiber links acc1-agg1-core1-agg2-acc4, and bravo's own access line
    assert b.locator("#picture g.service[data-service=alpha-bravo] line.overlay").count() == 5
    b.screenshot(path=str(ARTIFACTS / "ui-bravo-accepted.png"), full_page=True)

    # A sees it turn active without a reload (the event stream).
    a.wait_for_selector("#picture g.legend[data-service=alpha-bravo][data-state=active]",
                        timeout=10_000)
    a.screenshot(path=str(ARTIFACTS / "ui-alpha-active.png"), full_page=True)
    assert a.errors == [] and b.errors == []
    assert " 0% packet loss" in net.get("h1").cmd("ping -c2 -W2 10.0.0.8")
    assert " 0 received" in net.get("h1").cmd("ping -c1 -W1 10.0.0.2")  # not a member

    # A tears it down: gone from both pictures, and the hosts are cut off again.
    a.once("dialog", lambda dialog: dialog.accept())
    a.click(".card[data-service=alpha-bravo] button:text('Tear down')")
    a.wait_for_selector(".card[data-service=alpha-bravo] .badge.deleted")
    b.wait_for_selector("#picture g.legend[data-service=alpha-bravo]", state="detached",
                        timeout=10_000)
    assert " 0 received" in net.get("h1").cmd("ping -c1 -W1 10.0.0.8")


def test_two_services_on_one_interface_by_customer_vlan(browser, metro) -> None:
    """EVPL: charlie's one interface carries two point-to-point services told apart by
    customer VLANs 100 and 200. Delta joins the first by an offer on its VLAN 100 and
    the second by an invitation code, untagged; the pictures list both on each port."""
    server, _net = metro
    ARTIFACTS.mkdir(exist_ok=True)
    charlie = server.party("charlie", [("charlie-h3", "acc2", 2, "00:00:00:00:00:03")])
    delta = server.party("delta", [("delta-h6", "acc3", 3, "00:00:00:00:00:06")])

    c = log_in(browser, server, charlie)
    c.wait_for_selector("#create-form select[name=interface] option[value=charlie-h3]",
                        state="attached")
    # Untagged by default; the VLAN ID is typed once a customer VLAN is chosen.
    assert c.input_value("#create-vlan select[name=vlan_mode]") == "untagged"
    assert c.is_disabled("#create-vlan input[name=ce_vlan]")
    for name, ce_vlan in (("evpl-100", 100), ("evpl-200", 200)):
        c.fill("#create-form input[name=name]", name)
        c.select_option("#create-form select[name=type]", "point-to-point")
        c.select_option("#create-form select[name=interface]", "charlie-h3")
        c.select_option("#create-vlan select[name=vlan_mode]", "tagged")
        c.fill("#create-vlan input[name=ce_vlan]", str(ce_vlan))
        c.click("#create-form button[type=submit]")
        c.wait_for_selector(f"#message.ok:has-text('Created {name}')")
    # The interface is still offered, saying what it holds.
    c.wait_for_selector("#create-form select[name=interface] option[value=charlie-h3]"
                        ":has-text('VLAN 100: #'):has-text('VLAN 200: #')", state="attached")
    c.wait_for_selector("#interfaces td:has-text('VLAN 100: #'):has-text('evpl-100')"
                        ":has-text('VLAN 200: #'):has-text('evpl-200')")
    # A customer VLAN holds one service: a third on VLAN 100 is refused.
    c.fill("#create-form input[name=name]", "evpl-100-again")
    c.fill("#create-vlan input[name=ce_vlan]", "100")
    c.click("#create-form button[type=submit]")
    c.wait_for_selector("#message.error:has-text('Create:')")
    assert c.locator(".card[data-service=evpl-100-again]").count() == 0

    for name, ce_vlan in (("evpl-100", 100), ("evpl-200", 200)):
        c.wait_for_selector(f".card[data-service={name}] td .ce-vlan:text-is('VLAN {ce_vlan}')")
    card = c.wait_for_selector(".card[data-service=evpl-100]")
    card.query_selector("input.offer-party").fill("delta")
    card.query_selector("button:text('Offer')").click()
    c.wait_for_selector("#message.ok:has-text('Offered evpl-100 to delta')")
    c.click(".card[data-service=evpl-200] button:text('Invitation code')")
    message = c.wait_for_selector("#message.ok:has-text('Invitation code for evpl-200')")
    code = message.inner_text().rsplit(": ", 1)[1].strip()

    d = log_in(browser, server, delta)
    offer = d.wait_for_selector(".offer:has-text('evpl-100')")
    offer.query_selector("select.iface").select_option("delta-h6")
    offer.query_selector(".vlan-choice select[name=vlan_mode]").select_option("tagged")
    offer.query_selector(".vlan-choice input[name=ce_vlan]").fill("100")
    offer.query_selector("button:text('Accept')").click()
    d.wait_for_selector("#message.ok:has-text('Accepted: evpl-100')")
    d.fill("#redeem-form input[name=code]", code)
    d.select_option("#redeem-form select[name=interface]", "delta-h6")  # untagged
    d.click("#redeem-form button[type=submit]")
    d.wait_for_selector("#message.ok:has-text('Joined evpl-200')")

    # Both active; each member list says each member's customer VLAN.
    for name in ("evpl-100", "evpl-200"):
        c.wait_for_selector(f"#picture g.legend[data-service={name}][data-state=active]",
                            timeout=10_000)
    members_100 = c.locator(".card[data-service=evpl-100] .ce-vlan").all_inner_texts()
    members_200 = c.locator(".card[data-service=evpl-200] .ce-vlan").all_inner_texts()
    assert members_100 == ["VLAN 100", "VLAN 100"], members_100
    assert members_200 == ["VLAN 200", "untagged"], members_200
    # Charlie's picture lists both services on its one port, with their customer VLANs.
    shared = "#picture g.port-services[data-port='acc2:2']"
    c.wait_for_selector(f"{shared} g.port-service[data-service=evpl-100][data-ce-vlan='100']")
    c.wait_for_selector(f"{shared} g.port-service[data-service=evpl-200][data-ce-vlan='200']")
    assert c.locator(f"{shared} g.port-service").count() == 2
    assert "VLAN 100" in c.locator(shared).text_content()
    c.locator("#picture-panel").screenshot(path=str(ARTIFACTS / "ui-shared-port.png"))
    c.screenshot(path=str(ARTIFACTS / "ui-shared-port-page.png"), full_page=True)
    # Delta's port too: evpl-200 untagged first, then evpl-100 on VLAN 100.
    on_delta = d.locator("#picture g.port-services[data-port='acc3:3'] g.port-service")
    d.wait_for_selector("#picture g.port-services[data-port='acc3:3'] "
                        "g.port-service[data-service=evpl-100]")
    assert on_delta.count() == 2
    assert [on_delta.nth(k).get_attribute("data-ce-vlan") for k in range(2)] == ["untagged", "100"]
    # The refused create logs its 409 in the console, by design.
    assert [e for e in c.errors if "status of 409" not in e] == [] and d.errors == []


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"ui-{name}.png"), full_page=True)


def pings(net, source: str, address: str) -> bool:
    return " 0% packet loss" in net.get(source).cmd(f"ping -c2 -W2 {address}")


def test_party_flow_through_the_picture(browser, metro) -> None:
    """Echo creates a multipoint service by picking its interface on the tree (with the
    keyboard), offers it to foxtrot and makes an invitation code by picking the service;
    foxtrot sees the offer on its tree and accepts it there; golf redeems the code. All
    three hosts ping each other; echo renames the service and changes its bandwidth
    (a refusal shown first), then tears it down from the picture."""
    server, net = metro
    ARTIFACTS.mkdir(exist_ok=True)
    echo = server.party("echo", [("echo-h2", "acc1", 3, "00:00:00:00:00:02")])
    foxtrot = server.party("foxtrot", [("foxtrot-h7", "acc4", 2, "00:00:00:00:00:07")])
    golf = server.party("golf", [("golf-h5", "acc3", 2, "00:00:00:00:00:05")])

    e = log_in(browser, server, echo)
    port = "#picture g.port.mine.free[data-pick='interface:echo-h2']"
    e.focus(port)
    e.keyboard.press("Enter")
    e.wait_for_selector("#prompt-title:text-is('New service on echo-h2')")
    assert e.input_value("#prompt select[name=interface]") == "echo-h2"
    e.keyboard.type("picture-lan")  # the prompt's first field has the focus
    e.select_option("#prompt select[name=type]", "multipoint-to-multipoint")
    shot(e, "picture-1-create-prompt")
    e.press("#prompt input[name=name]", "Enter")
    e.wait_for_selector("#message.ok:has-text('Created picture-lan')")
    assert e.is_hidden("#prompt")

    # The owner picks its service on the tree: offer to a party, and an invitation code.
    overlay = e.locator("#picture g.service[data-service=picture-lan] line.overlay").first
    overlay.click()
    e.wait_for_selector("#prompt-title:text-is('Service picture-lan')")
    e.fill("#prompt input.offer-party", "foxtrot")
    shot(e, "picture-2-service-prompt")
    e.click("#prompt button:text-is('Offer')")
    e.wait_for_selector("#message.ok:has-text('Offered picture-lan to foxtrot')")
    overlay.click()
    e.click("#prompt button:text-is('Invitation code')")
    message = e.wait_for_selector("#message.ok:has-text('Invitation code for picture-lan')")
    code = message.inner_text().rsplit(": ", 1)[1].strip()

    # The addressee finds the offer on its tree, opens it there and accepts with its interface.
    f = log_in(browser, server, foxtrot)
    tag = f.wait_for_selector("#picture g.offer-tag:has-text('picture-lan from echo')")
    shot(f, "picture-3-offer-on-tree")
    tag.click()
    f.wait_for_selector("#prompt-title:text-is('Offer of picture-lan from echo')")
    f.select_option("#prompt select.iface", "foxtrot-h7")
    shot(f, "picture-4-offer-prompt")
    f.click("#prompt button:text-is('Accept')")
    f.wait_for_selector("#message.ok:has-text('Accepted: picture-lan')")
    f.wait_for_selector("#picture g.offer-tag", state="detached")

    g = log_in(browser, server, golf)
    g.fill("#redeem-form input[name=code]", code)
    g.select_option("#redeem-form select[name=interface]", "golf-h5")
    g.click("#redeem-form button[type=submit]")
    g.wait_for_selector("#message.ok:has-text('Joined picture-lan')")

    e.wait_for_selector("#picture g.legend[data-service=picture-lan][data-state=active]",
                        timeout=10_000)
    e.wait_for_selector(".card[data-service=picture-lan] tr:has-text('golf') .badge.provisioned",
                        timeout=10_000)
    shot(e, "picture-5-active")
    assert pings(net, "h2", "10.0.0.7") and pings(net, "h2", "10.0.0.5")
    assert pings(net, "h7", "10.0.0.5")
    assert " 0 received" in net.get("h2").cmd("ping -c1 -W1 10.0.0.4")  # not a member

    # The owner's service view: more than the account allows is refused and said so,
    # then a new name and bandwidth; the service keeps carrying traffic.
    legend = "#picture g.legend[data-service=picture-lan]"
    e.focus(legend)
    e.keyboard.press("Enter")
    e.fill("#prompt input[name=bandwidth]", "5000")
    e.click("#prompt button:text-is('Change')")
    e.wait_for_selector("#message.error:has-text('Change:')")
    e.fill("#prompt input[name=name]", "picture-lan-2")
    e.fill("#prompt input[name=bandwidth]", "50")
    e.click("#prompt button:text-is('Change')")
    e.wait_for_selector("#message.ok:has-text('Changed picture-lan-2: 50 Mb/s')")
    f.wait_for_selector("#picture g.legend[data-service=picture-lan-2][data-state=active]",
                        timeout=10_000)
    shot(e, "picture-6-changed")
    assert pings(net, "h7", "10.0.0.2")

    e.locator("#picture g.service[data-service=picture-lan-2] line.overlay").first.click()
    e.once("dialog", lambda dialog: dialog.accept())
    e.click("#prompt button:text-is('Tear down')")
    e.wait_for_selector(".card[data-service=picture-lan-2] .badge.deleted")
    f.wait_for_selector("#picture g.legend[data-service=picture-lan-2]", state="detached",
                        timeout=10_000)
    assert " 0 received" in net.get("h2").cmd("ping -c1 -W1 10.0.0.7")
    assert [x for x in e.errors if "status of 409" not in x] == []
    assert f.errors == [] and g.errors == []


def test_admin_view(browser, server: Controller) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page = log_in(browser, server, "integration-admin-token")
    page.wait_for_selector("#parties td:has-text('alpha')")
    page.wait_for_selector("#switches td:has-text('core1')")
    page.wait_for_selector("#events td:has-text('accept')")
    assert page.locator("#picture g.switch").count() == 7
    page.screenshot(path=str(ARTIFACTS / "ui-admin.png"), full_page=True)
    # The log-in probes GET /me, which answers the provider 403 by design; Chromium logs it.
    assert [e for e in page.errors if "status of 403" not in e] == []


def test_wrong_token_stays_on_the_login(browser, server: Controller) -> None:
    page = browser.new_page()
    page.goto(server.url + "/")
    page.fill("#token", "nope")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#message.error:has-text('Unknown token')")
    assert page.is_hidden("#main")


def no_overlap(page, selector: str) -> bool:
    """No two of the matched SVG elements' boxes intersect."""
    return page.evaluate("""(selector) => {
        const boxes = [...document.querySelectorAll(selector)]
            .map((n) => n.getBoundingClientRect());
        return boxes.every((a, i) => boxes.slice(i + 1).every((b) =>
            a.right <= b.left || b.right <= a.left || a.bottom <= b.top || b.bottom <= a.top));
    }""", selector)


def test_admin_manages_parties_orders_and_services(browser, server: Controller) -> None:
    """The provider creates a party with an interface, suspends and resumes it, edits
    it, gives it a new token (the old one is refused), fulfils a work order of a utility
    service and tears that service down; its tables stay within their panels."""
    ARTIFACTS.mkdir(exist_ok=True)
    page = log_in(browser, server, ADMIN)
    page.fill("#party-form input[name=name]", "hotel")
    page.check("#party-form input[name=kind][value=electric-power]")
    page.fill("#party-form input[name=max_channels]", "3")
    row = "#iface-rows .iface-row"
    page.fill(f"{row} input[name=iface_name]", "hotel-h4")
    page.fill(f"{row} input[name=switch]", "acc2")
    page.fill(f"{row} input[name=port]", "3")
    page.fill(f"{row} input[name=mac]", "00:00:00:00:00:04")
    shot(page, "admin-1-create-party")
    page.click("#party-form button:text-is('Create party')")
    message = page.wait_for_selector("#message.ok:has-text('Created hotel')")
    first_token = message.inner_text().rsplit(": ", 1)[1].strip()
    hotel = "#parties tr:has(td:text-is('hotel'))"
    page.wait_for_selector(f"{hotel} td:has-text('hotel-h4@acc2:3')")
    me = server.call("GET", "/api/v1/me", first_token).json()
    assert me["account"]["service_kinds"] == ["ethernet-channel", "electric-power"]
    assert me["account"]["max_channels"] == 3

    page.click(f"{hotel} button:text-is('Suspend')")
    page.wait_for_selector(f"{hotel} .badge.suspended")
    assert server.call("GET", "/api/v1/me", first_token).json()["account"]["status"] == "suspended"
    shot(page, "admin-2-suspended")
    page.click(f"{hotel} button:text-is('Resume')")
    page.wait_for_selector(f"{hotel} .badge.active")
    assert server.call("GET", "/api/v1/me", first_token).json()["account"]["status"] == "active"

    # Edit: the account and the interfaces, a second one added.
    page.click(f"{hotel} button:text-is('Edit')")
    page.wait_for_selector("#party-form-title:text-is('Edit hotel')")
    page.fill("#party-form input[name=max_channels]", "4")
    page.click("#add-iface")
    new_row = f"{row}:nth-child(2)"
    page.fill(f"{new_row} input[name=iface_name]", "hotel-meter")
    page.fill(f"{new_row} input[name=switch]", "acc2")
    page.fill(f"{new_row} input[name=port]", "7")
    page.fill(f"{new_row} input[name=mac]", "00:00:00:00:00:44")
    page.fill(f"{new_row} input[name=location]", "basement")
    page.click("#party-form button:text-is('Save')")
    page.wait_for_selector("#message.ok:has-text('Saved hotel')")
    page.wait_for_selector(f"{hotel} td:has-text('hotel-meter@acc2:7')")
    me = server.call("GET", "/api/v1/me", first_token).json()
    assert me["account"]["max_channels"] == 4
    assert [(i["name"], i["location"]) for i in me["interfaces"]] == [
        ("hotel-h4", ""), ("hotel-meter", "basement")]

    page.once("dialog", lambda dialog: dialog.accept())
    page.click(f"{hotel} button:text-is('New token')")
    message = page.wait_for_selector("#message.ok:has-text('New token for hotel')")
    token = message.inner_text().rsplit(": ", 1)[1].strip()
    assert server.call("GET", "/api/v1/me", first_token).status_code == 401
    assert server.call("GET", "/api/v1/me", token).json()["name"] == "hotel"

    # A utility service: hotel's meter joined by india by invitation; their work orders.
    india = server.call("POST", "/api/v1/parties", ADMIN, {
        "name": "india", "account": {"status": "active", "service_kinds": ["electric-power"],
                                     "max_bandwidth_mbps": 0, "max_channels": 2},
        "interfaces": [{"name": "india-meter", "switch": "acc3", "port": 7,
                        "mac": "00:00:00:00:00:66"}]}).json()["token"]
    power = server.api(token).call("POST", "/services", {
        "name": "hotel-power", "kind": "electric-power", "interface": "hotel-meter",
        "attributes": {"quantity": 40, "unit": "kWh", "location": "basement"}})
    code = server.api(token).call("POST", f"/services/{power['id']}/offers", {})["code"]
    server.api(india).call("POST", "/invitations/accept",
                           {"code": code, "interface": "india-meter"})
    order = "#orders tr:has(td:text-is('india'))"
    page.wait_for_selector(f"{order} .badge.open")
    shot(page, "admin-3-work-order")
    page.click(f"{order} button:text-is('Fulfil')")
    page.wait_for_selector(f"{order} .badge.fulfilled")
    fulfilled = [o for o in server.api().call("GET", "/orders") if o["party"] == "india"]
    assert [o["state"] for o in fulfilled] == ["fulfilled"]

    service = "#admin-services tr:has(td:text-is('hotel-power'))"
    page.once("dialog", lambda dialog: dialog.accept())
    page.click(f"{service} button:text-is('Tear down')")
    page.wait_for_selector(f"{service} .badge.deleted")
    assert server.api(token).call("GET", f"/services/{power['id']}")["state"] == "deleted"

    # Nothing overflows: the page, each panel, the legend's entries.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    overflowing = page.evaluate("""[...document.querySelectorAll('#admin-view > section')]
        .filter((s) => s.scrollWidth > s.clientWidth)
        .map((s) => s.querySelector('h2').textContent)""")
    assert overflowing == []
    assert no_overlap(page, "#picture g.legend")
    shot(page, "admin-4-done")
    assert [e for e in page.errors if "status of 403" not in e] == []


def test_the_page_follows_the_event_stream(browser, server: Controller) -> None:
    """A party's page reads the event stream: what another party, or the party itself
    through the API, does shows within 1.5 s, and an idle page reads its services at
    most once in 5 s (no polling)."""
    kilo = server.party("kilo", [("kilo-h1", "acc1", 6, "00:00:00:00:00:61")])
    lima = server.party("lima", [("lima-h1", "acc4", 6, "00:00:00:00:00:62")])
    page = log_in(browser, server, kilo)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(urlparse(request.url).path))
    page.wait_for_selector("#offers:has-text('No offers.')")  # read once the stream is open

    line = server.api(lima).call("POST", "/services", {
        "name": "lima-line", "kind": "ethernet-channel", "interface": "lima-h1",
        "attributes": {"type": "point-to-point", "bandwidth_mbps": 10}})
    server.api(lima).call("POST", f"/services/{line['id']}/offers", {"party": "kilo"})
    page.wait_for_selector(".offer:has-text('lima-line from lima')", timeout=1500)
    server.api(kilo).call("POST", "/services", {
        "name": "kilo-own", "kind": "ethernet-channel", "interface": "kilo-h1",
        "attributes": {"type": "point-to-point", "bandwidth_mbps": 10}})
    page.wait_for_selector(".card[data-service=kilo-own]", timeout=1500)

    page.wait_for_timeout(500)  # the reads of those events are done
    requested.clear()
    page.wait_for_timeout(5000)
    assert requested.count("/api/v1/services") <= 1, requested
    assert page.errors == []


def audit_rows(page) -> list[list[str]]:
    """The audit table's rows: #, at, actor, action, service, party, detail."""
    return page.locator("#events tbody tr").evaluate_all(
        "(rows) => rows.map((r) => [...r.cells].map((c) => c.textContent))")


def audit_rows_when(page, ok: Callable[[list[list[str]]], bool]) -> list[list[str]]:
    """The audit table's rows once `ok` holds of them (within 5 s)."""
    deadline = time.monotonic() + 5
    while not ok(rows := audit_rows(page)):
        assert time.monotonic() < deadline, rows
        time.sleep(0.1)
    return rows


def only(rows: list[list[str]], action: str | None = None, party: str | None = None) -> bool:
    """Some rows, each of `action` and naming `party` when given."""
    return bool(rows) and all((action in (None, r[3])) and (party in (None, r[5])) for r in rows)


def test_admin_filters_and_pages_the_audit_log(browser, server: Controller) -> None:
    """The provider's audit log shows 50 events a page: filtered by action and party,
    then by party alone, paged to older events and back; by action alone. A new event
    that matches appears at the top of the newest page."""
    ARTIFACTS.mkdir(exist_ok=True)
    juliet = server.party("juliet", [("juliet-h1", "acc2", 6, "00:00:00:00:00:63")])
    party_id = server.api(juliet).call("GET", "/me")["id"]
    for n in range(55):  # 55 party_updated events, juliet's party_created before them
        server.api().call("PATCH", f"/parties/{party_id}", {"account": {"max_channels": 6 + n % 2}})

    page = log_in(browser, server, ADMIN)
    page.fill("#audit-form input[name=party]", "juliet")
    page.fill("#audit-form input[name=action]", "party_updated")
    page.press("#audit-form input[name=action]", "Enter")
    rows = audit_rows_when(page, lambda r: only(r, "party_updated", "juliet") and len(r) == 50)
    ids = [int(r[0]) for r in rows]
    assert ids == sorted(ids, reverse=True)
    page.wait_for_selector("#audit-page:has-text('Newest events that match')")
    assert page.is_disabled("#audit-newest") and page.is_enabled("#audit-older")
    page.screenshot(path=str(ARTIFACTS / "ui-audit-filtered.png"), full_page=True)

    page.click("#audit-older")
    older = audit_rows_when(page, lambda r: only(r, "party_updated", "juliet") and len(r) == 5)
    assert int(older[0][0]) < ids[-1]
    assert page.is_disabled("#audit-older") and page.is_enabled("#audit-newest")
    page.click("#audit-newest")
    audit_rows_when(page, lambda r: [int(x[0]) for x in r] == ids)

    # A new event that matches comes from the stream to the top of the newest page.
    server.api().call("PATCH", f"/parties/{party_id}", {"account": {"max_channels": 9}})
    latest = audit_rows_when(page, lambda r: int(r[0][0]) > ids[0])
    assert only(latest, "party_updated", "juliet") and len(latest) == 50

    # The party alone: its party_created is the last of the older page.
    page.fill("#audit-form input[name=action]", "")
    page.click("#audit-form button:text-is('Filter')")
    audit_rows_when(page, lambda r: only(r, party="juliet") and len(r) == 50)
    page.click("#audit-older")
    older = audit_rows_when(page, lambda r: only(r, party="juliet") and len(r) == 7)
    assert [r[3] for r in older] == ["party_updated"] * 6 + ["party_created"]

    # The action alone, from the newest page: every party's creation, juliet's first.
    page.click("#audit-form button:text-is('Clear')")
    page.fill("#audit-form input[name=action]", "party_created")
    page.click("#audit-form button:text-is('Filter')")
    audit_rows_when(page, lambda r: only(r, "party_created") and r[0][5] == "juliet")
    assert page.is_disabled("#audit-newest")
    # The log-in probes GET /me, which answers the provider 403 by design; Chromium logs it.
    assert [e for e in page.errors if "status of 403" not in e] == []


def definitions(page, selector: str) -> dict[str, str]:
    """The terms of the definition list `selector` and their values, as shown."""
    return page.locator(selector).evaluate("""(dl) => Object.fromEntries(
        [...dl.querySelectorAll('dt')]
            .map((dt) => [dt.textContent, dt.nextElementSibling.textContent]))""")


def test_offer_shows_what_is_offered_before_accepting(browser, server: Controller) -> None:
    """November sees what mike offers before it accepts: in its offers list and in the
    prompt of the envelope on its tree (opened with the keyboard), the service's name,
    kind, type and bandwidth, owner, member count and expiry, and who takes part (the
    preview of the service). It declines there."""
    ARTIFACTS.mkdir(exist_ok=True)
    mike = server.party("mike", [("mike-h1", "acc1", 8, "00:00:00:00:00:71")])
    november = server.party("november", [("november-h1", "acc4", 8, "00:00:00:00:00:72")])
    line = server.api(mike).call("POST", "/services", {
        "name": "mike-line", "kind": "ethernet-channel", "interface": "mike-h1",
        "attributes": {"type": "point-to-point", "bandwidth_mbps": 250}})
    server.api(mike).call("POST", f"/services/{line['id']}/offers", {"party": "november"})

    page = log_in(browser, server, november)
    page.wait_for_selector(".offer:has-text('mike-line from mike') dl.details")
    expected = {"Service": f"mike-line (#{line['id']})", "Kind": "ethernet-channel",
                "Type, bandwidth": "point-to-point, 250 Mb/s", "Owner": "mike",
                "Members": "1 live member"}
    listed = definitions(page, ".offer:has-text('mike-line from mike') dl.details")
    assert {k: v for k, v in listed.items() if k != "Expires"} == expected
    assert listed["Expires"]

    page.focus("#picture g.offer-tag:has-text('mike-line from mike')")
    page.keyboard.press("Enter")
    page.wait_for_selector("#prompt-title:text-is('Offer of mike-line from mike')")
    assert definitions(page, "#prompt dl.details") == listed
    page.wait_for_selector("#prompt .members-preview td:text-is('mike')")
    page.screenshot(path=str(ARTIFACTS / "ui-offer-details.png"), full_page=True)

    page.click("#prompt button:text-is('Decline')")
    page.wait_for_selector("#message.ok:has-text('Decline: done')")
    assert [o["state"] for o in server.api(november).call("GET", "/offers")] == ["declined"]
    assert page.errors == []


def test_invitation_code_previewed_before_redeeming(browser, server: Controller) -> None:
    """Oscar previews a code in the redeem form: what it is for, redeeming nothing; an
    unknown code shows the controller's refusal."""
    papa = server.party("papa", [("papa-h1", "acc2", 8, "00:00:00:00:00:73")])
    oscar = server.party("oscar", [("oscar-h1", "acc3", 8, "00:00:00:00:00:74")])
    lan = server.api(papa).call("POST", "/services", {
        "name": "papa-lan", "kind": "ethernet-channel", "interface": "papa-h1",
        "attributes": {"type": "multipoint-to-multipoint", "bandwidth_mbps": 20}})
    code = server.api(papa).call("POST", f"/services/{lan['id']}/offers", {})["code"]

    page = log_in(browser, server, oscar)
    page.fill("#redeem-form input[name=code]", code)
    page.click("#redeem-form button:text-is('Preview')")
    page.wait_for_selector("#invitation-preview dl.details")
    seen = definitions(page, "#invitation-preview dl.details")
    assert seen["Service"] == f"papa-lan (#{lan['id']})" and seen["Owner"] == "papa"
    assert seen["Type, bandwidth"] == "multipoint-to-multipoint, 20 Mb/s"
    assert [o["state"] for o in server.api(papa).call("GET", "/offers")] == ["pending"]

    page.fill("#redeem-form input[name=code]", "no-such-code")
    assert page.locator("#invitation-preview *").count() == 0  # a new code, no old preview
    page.click("#redeem-form button:text-is('Preview')")
    page.wait_for_selector("#invitation-preview .error:has-text('Preview: no invitation')")
    # The unknown code's 404 is logged by Chromium, by design.
    assert [e for e in page.errors if "status of 404" not in e] == []


def test_party_adds_and_deletes_a_webhook(browser, server: Controller) -> None:
    """Quebec adds a webhook with a generated secret (a URL the controller refuses first,
    its reason shown), sees it listed and deletes it; the API agrees at each step."""
    ARTIFACTS.mkdir(exist_ok=True)
    quebec = server.party("quebec", [("quebec-h1", "acc3", 9, "00:00:00:00:00:75")])
    page = log_in(browser, server, quebec)
    page.wait_for_selector("#webhooks:has-text('No webhooks.')")

    form = "#webhook-form"
    page.fill(f"{form} input[name=url]", "ftp://127.0.0.1/quebec")
    page.click(f"{form} button:text-is('Generate')")
    secret = page.input_value(f"{form} input[name=secret]")
    assert len(secret) == 64 and page.get_attribute(f"{form} input[name=secret]", "type") == "text"
    page.click(f"{form} button:text-is('Add webhook')")
    page.wait_for_selector("#message.error:has-text('Add webhook: url')")
    assert server.api(quebec).call("GET", "/webhooks") == []

    url = "http://127.0.0.1:9/quebec"
    page.fill(f"{form} input[name=url]", url)
    page.press(f"{form} input[name=url]", "Enter")
    page.wait_for_selector("#message.ok:has-text('Added webhook')")
    row = f"#webhooks tr:has(td:text-is('{url}'))"
    page.wait_for_selector(row)
    assert page.input_value(f"{form} input[name=secret]") == ""  # shown once
    assert page.get_attribute(f"{form} input[name=secret]", "type") == "password"
    hooks = server.api(quebec).call("GET", "/webhooks")
    assert [(h["url"], h["party"], h["active"]) for h in hooks] == [(url, "quebec", True)]
    page.screenshot(path=str(ARTIFACTS / "ui-webhooks.png"), full_page=True)

    page.click(f"{row} button:text-is('Delete')")
    page.wait_for_selector("#webhooks:has-text('No webhooks.')")
    assert server.api(quebec).call("GET", "/webhooks") == []
    # The refused URL's 400 is logged by Chromium, by design.
    assert [e for e in page.errors if "status of 400" not in e] == []
