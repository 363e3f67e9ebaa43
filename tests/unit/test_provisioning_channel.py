"""The channel's waiters belong to a connection, and the provisioning app retries a
failed reconciliation at once with backoff."""

from __future__ import annotations

from types import SimpleNamespace

import eventlet
from ryu.lib import hub

from apps.channel import Channel
from metroshare.launcher import apply_shims


class FakeDatapath:
    """A connection: a switch's dpid, an xid counter, and what was sent on it."""

    def __init__(self, dpid: int) -> None:
        self.id, self.xid, self.sent = dpid, 0, []

    def send_msg(self, msg) -> None:
        self.sent.append(msg)


class FakeRequest:
    def set_xid(self, xid: int) -> None:
        self.xid = xid


def test_a_reconnected_switch_gets_its_replies_on_the_new_connection() -> None:
    """The old connection of dpid 7 is being torn down while the new one asks: the
    old one's loss wakes only its own waiter, and a reply to the new one reaches it."""
    channel = Channel()
    old, new = FakeDatapath(7), FakeDatapath(7)
    answers = {}

    def ask(name, datapath) -> None:
        try:
            answers[name] = channel.request(datapath, FakeRequest(), 2.0, convert=str.upper)
        except Exception as exc:  # noqa: BLE001 -- the outcome is what the test reads
            answers[name] = exc

    threads = [eventlet.spawn(ask, "old", old), eventlet.spawn(ask, "new", new)]
    eventlet.sleep(0)
    channel.on_disconnect(old)
    channel.on_reply(new, new.sent[0].xid, ["flow"], more=False)
    for thread in threads:
        thread.wait()
    assert "disconnected" in str(answers["old"])
    assert answers["new"] == ["FLOW"]  # converted as it arrived


def test_a_failed_reconciliation_is_retried_with_backoff(monkeypatch) -> None:
    apply_shims()  # Ryu's app manager needs them on Python 3.11
    from apps import provisioning

    monkeypatch.setattr(provisioning, "RETRY_FIRST_S", 0.01)
    outcomes = ["no barrier reply within 3 s", "switch disconnected", None]
    confirmed = []
    app = provisioning.Provisioning.__new__(provisioning.Provisioning)
    app.installer = SimpleNamespace(reconcile=lambda name: outcomes.pop(0),
                                    datapaths={"acc1": object()})
    app.core = SimpleNamespace(confirm_removals=confirmed.append)
    app.stopping, app.reconcile_due = hub.Event(), set()
    app.metroshare = SimpleNamespace(leads=True)  # a lone controller
    app.logger = SimpleNamespace(error=lambda *a: None, info=lambda *a: None)
    app._reconcile("acc1", audit=False)
    assert outcomes == [] and confirmed == ["acc1"]
