"""A container's network bandwidth limits (--network-bandwidth, -in, -out), as tc on its veth.

"in" is what the container receives: it leaves the switch through the host
end of the container's veth, so a token bucket (tbf) as that end's root
qdisc shapes it. "out" is what the container sends: it arrives on the host
end, where nothing can be queued, so an ingress filter redirects every
packet to an ifb device whose own tbf shapes it, and the ifb hands it back
to the veth's receive path (the way the CNI bandwidth plugin does it).

Ownership: the veth's qdiscs and filter go with the veth, that is with the
container's network namespace. The ifb lives in the host's namespace, so
it carries the veth's alias (corral:<store tag>:<container id>) and a name
made from the veth's (crv<hash> -> crb<hash>); release() deletes it when
the container stops, and `system check` reports one left behind (by a
killed monitor) and `system prune` / `check --repair` remove it.

The limits apply per interface: a container on two switches may receive
and send at the rate on each. Rates are bits per second (tc's grammar);
the kernel's are bytes per second.
"""
from __future__ import annotations

import os
import _socket

from corral.errors import InvalidArgument

_SI = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12,
       "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}
LATENCY_DIVISOR = 20
"""A tbf queues at most 1/20 s (50 ms) of traffic beyond its bucket; more is dropped, which TCP reads
as congestion and slows down for."""
BURST_DIVISOR = 50
"""The bucket holds 1/50 s (20 ms) of traffic, and never less than two full frames."""


def parse_rate(text: str) -> int:
    """tc's rate grammar as bits per second: a number with bit, kbit, mbit, gbit, tbit (bits per second;
    a bare number too) or bps, kbps, mbps, gbps, tbps (bytes per second), the IEC prefixes (kibit, mibps…)
    for powers of 1024. Case does not matter; "10mbit" is 10,000,000. 0 means no limit."""
    t = text.strip().lower()
    digits = len(t) - len(t.lstrip("0123456789."))
    number, unit = t[:digits], t[digits:]
    scale = None
    for suffix, per_unit in (("bit", 1), ("bps", 8)):
        if unit.endswith(suffix) and unit[:-len(suffix)] in _SI:
            scale = _SI[unit[:-len(suffix)]] * per_unit
    if unit == "":
        scale = 1
    try:
        value = float(number)
    except ValueError:
        value = None
    if scale is None or value is None:
        prefix = unit.removesuffix("b")
        hint = f"{number}{prefix}bit or {number}{prefix}bps" if value is not None and prefix in _SI else "10mbit"
        raise InvalidArgument(f"invalid rate {text!r}: give a number and a unit, bit, kbit, mbit, gbit (bits per "
                              f"second) or bps, kbps, mbps, gbps (bytes per second), e.g. {hint}")
    bits = int(value * scale)
    if 0 < bits < 8:
        raise InvalidArgument(f"invalid rate {text!r}: the least is 8bit (a byte per second)")
    return bits


def rate_value(value: object, name: str) -> int:
    """A rate as the Python API takes it: a string in tc's grammar ("10mbit") or bits per second as an int."""
    if isinstance(value, str):
        return parse_rate(value)
    if isinstance(value, int) and not isinstance(value, bool) and (value == 0 or value >= 8):
        return value
    raise InvalidArgument(f"{name}: give a rate such as '10mbit' or bits per second as an int, not {value!r}")


KEYS = ("network_bandwidth", "network_bandwidth_in", "network_bandwidth_out")
"""The keywords (and, with dashes, the flags) of a limit: both directions, what the container receives,
what it sends."""


def split(values: dict) -> dict[str, int]:
    """network_bandwidth_in/_out (bits per second) from KEYS' values in `values`: network_bandwidth for both
    directions, the other two apart (winning over it); None or absent leaves a direction as it is."""
    both = values.get("network_bandwidth")
    found = {}
    for key in KEYS[1:]:
        value = values.get(key) if values.get(key) is not None else both
        if value is not None:
            found[key] = rate_value(value, key)
    return found


def flags(o: dict) -> dict[str, int]:
    """run/create/update's --network-bandwidth, -in and -out, parsed (the flag named when one is wrong)."""
    values = {}
    for key in KEYS:
        if o.get(key) is not None:
            try:
                values[key] = parse_rate(o[key])
            except InvalidArgument as e:
                raise InvalidArgument(f'invalid argument "{o[key]}" for "--{key.replace("_", "-")}" flag: '
                                      f"{e}") from None
    return split(values)


def ifb_name(veth: str) -> str:
    """The ifb that shapes what leaves the container through `veth` (crv<hash> -> crb<hash>)."""
    return "crb" + veth[3:]


# the plan: which tc steps take a veth from one pair of limits to another -----------------------------

def tbf(rate: int, mtu: int) -> tuple[int, int, int]:
    """(bytes per second, burst, queue limit) of a tbf for `rate` bits per second on a link of `mtu`."""
    per_second = max(rate // 8, 1)
    burst = max(per_second // BURST_DIVISOR, 2 * (mtu + 14))
    return per_second, burst, per_second // LATENCY_DIVISOR + burst


def plan(veth: str, alias: str, old: tuple[int | None, int | None], new: tuple[int | None, int | None],
         mtu: int = 1500) -> list[tuple]:
    """The steps from limits `old` (in, out; None: none) to `new` on one veth, as tuples:
    ("tbf", link, bytes/s, burst, limit) makes or changes a link's root tbf, ("untbf", link) removes it,
    ("ifb", name, alias) creates the ifb, ("redirect", veth, ifb) sends what the veth receives to it,
    ("unredirect", veth) stops that, ("unlink", ifb) deletes the ifb (after the redirect is gone: a
    redirect to a missing link drops every packet)."""
    (old_in, old_out), (new_in, new_out) = old, new
    ifb = ifb_name(veth)
    steps: list[tuple] = []
    if new_in != old_in:
        steps.append(("tbf", veth, *tbf(new_in, mtu)) if new_in else ("untbf", veth))
    if new_out != old_out:
        if new_out:
            if not old_out:
                steps.append(("ifb", ifb, alias))
            steps.append(("tbf", ifb, *tbf(new_out, mtu)))  # shaped before the first packet is redirected
            if not old_out:
                steps.append(("redirect", veth, ifb))
        else:
            steps += [("unredirect", veth), ("unlink", ifb)]
    return steps


def run(steps: list[tuple]) -> None:
    """Carry out a plan on the host's links (the socket must be the host namespace's)."""
    from corral.network import tc
    from corral.network.netlink import Netlink

    index = _socket.if_nametoindex
    with Netlink() as nl:
        for step in steps:
            kind, name = step[0], step[1]
            if kind == "ifb":
                if _exists(name):  # a monitor killed before its container's release left it
                    nl.delete_link(name)
                    nl.flush(ignore=(19,))
                nl.add_link(name, "ifb", step[2])
            elif kind == "tbf":
                tc.replace_tbf(nl, index(name), name, *step[2:])
            elif kind == "redirect":
                tc.add_ingress(nl, index(name), name)
                tc.add_redirect(nl, index(name), name, index(step[2]))
            elif kind in ("untbf", "unredirect"):
                if _exists(name):
                    tc.delete_qdisc(nl, index(name), name, ingress=kind == "unredirect")
            elif kind == "unlink":
                nl.delete_link(name)
            nl.flush(ignore=(2, 19) if kind.startswith("un") else ())  # ENOENT, ENODEV: already gone


def apply(veths: list[str], alias: str, old: tuple[int | None, int | None],
          new: tuple[int | None, int | None]) -> None:
    """Take each of a container's veths from limits `old` to `new` (start: old is (None, None))."""
    for veth in veths:
        run(plan(veth, alias, old, new, _mtu(veth)))


def release(veths: list[str]) -> None:
    """Delete the ifbs of a container's veths, where there are any (the container has stopped; its veth
    and the qdiscs on it go with its network namespace). Cheap when there are none: a lookup per veth."""
    left = [ifb_name(v) for v in veths if _exists(ifb_name(v))]
    if left:
        run([("unlink", name) for name in left])


def _exists(name: str) -> bool:
    try:
        _socket.if_nametoindex(name)
        return True
    except OSError:
        return False


def _mtu(link: str) -> int:
    try:
        with open(os.path.join("/sys/class/net", link, "mtu")) as f:
            return int(f.read())
    except (OSError, ValueError):
        return 1500
