"""A VM container's NICs: QEMU in the container's network namespace, one virtio-net NIC per tap there.

The monitor wires a VM container's network namespace as a process container's, then hands each
interface's address to a tap beside it (network/vmnic.py) and records the guest's NICs in the
spec's NICS_ANNOTATION: for each, the container's interface name (eth0...), its tap, its MAC, the
address, prefix and the gateway (on the first switch that routes). Here QEMU joins that namespace
(it is the namespace's process, as a process container's init is: the namespace, the taps and the
veths go with it) and gets one NIC per tap, with the interface's MAC (or, restored from a template, the
template's: template_args); the guest init finds each NIC by that MAC (or the template's, then gives it the
interface's), names it as the container's interface and addresses it (guest/init.c, configure_network),
from the entries the process message carries. A container without the annotation (--network none)
keeps no NIC and QEMU stays where it was.
"""
from __future__ import annotations

import os

from corral import fastjson as json

NICS_ANNOTATION = "org.corral.vm.nics"
"""JSON list of {"ifname", "tap", "mac", "address", "prefix", "gateway" (or null)}; set in memory by the
monitor at each start (never stored in config.json): the addresses are the leases of that start."""
TAP_PREFIX = "vmtap"
"""The taps' names (vmtap0 beside eth0): the namespace's side of the guest's NICs, whose traffic its ethN
counts already (runtime/stats.py leaves them out)."""


def tap_name(ifname: str) -> str:
    """eth0's tap is vmtap0: names of the container's own namespace, so they need not be unique."""
    return TAP_PREFIX + ifname.removeprefix("eth")


def nics(spec: dict) -> list[dict]:
    raw = spec.get("annotations", {}).get(NICS_ANNOTATION)
    return json.loads(raw) if raw else []


def qemu_args(spec: dict) -> list[str]:
    """A virtio-net NIC on each tap (opened by name in QEMU's namespace: script=no, nothing run)."""
    args: list[str] = []
    for i, nic in enumerate(nics(spec)):
        args += ["-netdev", f"tap,id=net{i},ifname={nic['tap']},script=no,downscript=no",
                 "-device", f"virtio-net-device,netdev=net{i},mac={nic['mac']}"]
    return args


TEMPLATE_MAC = "02:63:72:00:00:{:02x}"
"""The MAC of a template guest's NIC i (runtime/vm/template.py); the init gives it the container's (guest/init.c)."""


def template_args(count: int) -> list[str]:
    """A template guest's NICs: QEMU migrates the device and the guest's driver state, not the backend, so each
    NIC is on a hub port of its own while the template boots (connected to nothing), and on the container's tap
    once a container's QEMU restores it (qemu_args, in the same order). The MAC is device state: a restored NIC
    keeps the template's until the guest sets the container's."""
    args: list[str] = []
    for i in range(count):
        args += ["-netdev", f"hubport,id=net{i},hubid={i}",
                 "-device", f"virtio-net-device,netdev=net{i},mac={TEMPLATE_MAC.format(i)}"]
    return args


def guest_entries(spec: dict) -> list[str]:
    """The process message's 'n' entries: "n<ifname> <mac> <address> <prefix> <gateway or ->"."""
    return [f"n{nic['ifname']} {nic['mac']} {nic['address']} {int(nic['prefix'])} {nic['gateway'] or '-'}"
            for nic in nics(spec)]


def join_namespace(spec: dict) -> None:
    """In QEMU's fork: enter the container's network namespace (the monitor's fd, by /proc/self/fd path)."""
    if not nics(spec):
        return
    from corral.sys import libc

    path = next(ns.get("path") for ns in spec["linux"]["namespaces"] if ns["type"] == "network")
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        libc.setns(fd, libc.CLONE_NEWNET)
    finally:
        os.close(fd)
