"""Rule values written in `ovs-ofctl` syntax (OpenFlow 1.3).

For people and tools outside the controller: `ovs-ofctl diff-flows BRIDGE
FILE` compares a switch with the compiled state, and the benchmark feeds the
same rules to `ovs-ofctl --bundle add-flows` as its baseline. Pure.
"""

from __future__ import annotations

from flows.rules import Action, Flow, Group, Meter

OFPVID_PRESENT = 0x1000
OFPP_CONTROLLER = 0xFFFFFFFD


def _field(name: str, value: object) -> str:
    if name == "vlan_vid":
        if isinstance(value, tuple):
            return f"vlan_tci={value[0]:#06x}/{value[1] | OFPVID_PRESENT:#06x}"
        if value == 0:
            return "vlan_tci=0x0000/0x1fff"
        return f"dl_vlan={value & ~OFPVID_PRESENT}"
    key = {"eth_src": "dl_src", "eth_dst": "dl_dst", "eth_type": "dl_type"}.get(name, name)
    if isinstance(value, tuple):
        return f"{key}={value[0]}/{value[1]}"
    if name == "eth_type":
        return f"{key}={value:#06x}"
    return f"{key}={value}"


def action_text(action: Action) -> str:
    kind = action[0]
    if kind == "output":
        return "CONTROLLER:65535" if action[1] == OFPP_CONTROLLER else f"output:{action[1]}"
    if kind == "group":
        return f"group:{action[1]}"
    if kind == "push_vlan":
        return "push_vlan:0x8100"
    if kind == "pop_vlan":
        return "pop_vlan"
    if kind == "set_vlan_vid":
        return f"set_field:{OFPVID_PRESENT | action[1]}->vlan_vid"
    raise ValueError(f"unknown action {action!r}")


def flow_text(flow: Flow) -> str:
    """One line of an `ovs-ofctl add-flows` file."""
    head = [f"cookie={flow.cookie:#x}", f"table={flow.table}", f"priority={flow.priority}"]
    head += [_field(k, v) for k, v in flow.match]
    actions = [f"meter:{flow.meter}"] if flow.meter is not None else []
    actions += [action_text(a) for a in flow.actions]
    if flow.goto is not None:
        actions.append(f"goto_table:{flow.goto}")
    return ",".join(head) + " actions=" + (",".join(actions) or "drop")


def group_text(group: Group) -> str:
    """One line of an `ovs-ofctl add-groups` file."""
    buckets = ",".join("bucket=" + (",".join(action_text(a) for a in b) or "drop")
                       for b in group.buckets)
    return f"group_id={group.group_id},type=all" + ("," + buckets if buckets else "")


def meter_text(meter: Meter) -> str:
    """The argument of `ovs-ofctl add-meter`."""
    return (f"meter={meter.meter_id},{'pktps' if meter.pktps else 'kbps'},burst,"
            f"band=type=drop,rate={meter.rate_kbps},burst_size={meter.burst_kb}")
