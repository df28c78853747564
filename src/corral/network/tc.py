"""The traffic-control requests a bandwidth limit needs, as rtnetlink messages queued on a Netlink socket.

Why not the `tc` binary: it is a process per command (or one `tc -batch`,
~5 ms on these hosts) on a container's start, and its text interface would
be a second way of talking to the kernel beside netlink.py. The requests
are few and fixed: a token bucket (tbf) as a device's root qdisc, the
ingress qdisc, one u32 filter matching every packet whose action redirects
it to an ifb device (u32 because cls_matchall is not built into every
kernel: this host's has u32 and no matchall), and their removal. tbf takes
its burst in bytes (TCA_TBF_BURST) and the link layer as Ethernet, so no
rate table or tick conversion is needed (kernels since 3.13).
"""
from __future__ import annotations

import struct

from corral.network.netlink import NLM_F_CREATE, NLM_F_EXCL, Netlink, attr

RTM_NEWQDISC, RTM_DELQDISC, RTM_NEWTFILTER = 36, 37, 44
NLM_F_REPLACE = 0x100
TCA_KIND, TCA_OPTIONS = 1, 2
TC_H_ROOT, TC_H_INGRESS, INGRESS_HANDLE = 0xFFFFFFFF, 0xFFFFFFF1, 0xFFFF0000
TCA_TBF_PARMS, TCA_TBF_RATE64, TCA_TBF_BURST = 1, 4, 6
TC_LINKLAYER_ETHERNET = 1
TCA_U32_SEL, TCA_U32_ACT = 5, 7
TC_U32_TERMINAL = 1
TCA_ACT_KIND, TCA_ACT_OPTIONS = 1, 2
TCA_MIRRED_PARMS = 2
TC_ACT_STOLEN, TCA_EGRESS_REDIR = 4, 1
ETH_P_ALL_BE = 0x0300  # htons(ETH_P_ALL) as the kernel reads tcm_info's low half on a little-endian host
FILTER_PRIO = 1

_TCMSG = struct.Struct("=BxxxiIII")  # family, ifindex, handle, parent, info
_RATESPEC = struct.Struct("=BBHhHI")  # cell_log, linklayer, overhead, cell_align, mpu, rate (bytes/s)
_TBF_QOPT = struct.Struct("=12s12sIII")  # rate, peakrate, limit, buffer, mtu
_U32_SEL = struct.Struct("=BBBxHHhhI")  # flags, offshift, nkeys, offmask, off, offoff, hoff, hmask
_U32_KEY = struct.Struct("=IIii")  # mask, val, off, offmask
_MIRRED = struct.Struct("=IIiiiiI")  # index, capab, action, refcnt, bindcnt, eaction, ifindex


def tcmsg(ifindex: int, handle: int = 0, parent: int = 0, info: int = 0) -> bytes:
    return _TCMSG.pack(0, ifindex, handle, parent, info)


def tbf_options(rate: int, burst: int, limit: int) -> bytes:
    """TCA_OPTIONS of a tbf: `rate` bytes a second, a bucket of `burst` bytes, `limit` bytes queued."""
    spec = _RATESPEC.pack(0, TC_LINKLAYER_ETHERNET, 0, 0, 0, min(rate, 0xFFFFFFFF))
    body = attr(TCA_TBF_PARMS, _TBF_QOPT.pack(spec, b"\0" * _RATESPEC.size, limit, 0, 0))
    if rate >= 0xFFFFFFFF:
        body += attr(TCA_TBF_RATE64, struct.pack("=Q", rate))
    return body + attr(TCA_TBF_BURST, struct.pack("=I", burst))


def redirect_options(target: int) -> bytes:
    """TCA_OPTIONS of a u32 filter that matches every packet and redirects it to the egress of link
    `target` (mirred egress redirect, the packet stolen from its path)."""
    sel = _U32_SEL.pack(TC_U32_TERMINAL, 0, 1, 0, 0, 0, 0, 0) + _U32_KEY.pack(0, 0, 0, 0)
    mirred = _MIRRED.pack(0, 0, TC_ACT_STOLEN, 0, 0, TCA_EGRESS_REDIR, target)
    action = attr(TCA_ACT_KIND, b"mirred\0") + attr(TCA_ACT_OPTIONS, attr(TCA_MIRRED_PARMS, mirred))
    return attr(TCA_U32_SEL, sel) + attr(TCA_U32_ACT, attr(1, action))


def replace_tbf(nl: Netlink, ifindex: int, name: str, rate: int, burst: int, limit: int) -> None:
    """Make (or change in place) a tbf the root qdisc of a link: `tc qdisc replace dev NAME root tbf`."""
    body = tcmsg(ifindex, 0x10000, TC_H_ROOT) + attr(TCA_KIND, b"tbf\0") + attr(TCA_OPTIONS,
                                                                               tbf_options(rate, burst, limit))
    nl.queue(RTM_NEWQDISC, NLM_F_CREATE | NLM_F_REPLACE, body, f"set the bandwidth limit of {name}")


def add_ingress(nl: Netlink, ifindex: int, name: str) -> None:
    body = tcmsg(ifindex, INGRESS_HANDLE, TC_H_INGRESS) + attr(TCA_KIND, b"ingress\0")
    nl.queue(RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, body, f"add the ingress qdisc of {name}")


def add_redirect(nl: Netlink, ifindex: int, name: str, target: int) -> None:
    """Every packet arriving on link `ifindex` goes to link `target`'s egress (`tc filter add dev NAME
    parent ffff: protocol all u32 match u32 0 0 action mirred egress redirect dev TARGET`)."""
    body = tcmsg(ifindex, 0, INGRESS_HANDLE, (FILTER_PRIO << 16) | ETH_P_ALL_BE)
    body += attr(TCA_KIND, b"u32\0") + attr(TCA_OPTIONS, redirect_options(target))
    nl.queue(RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL, body, f"redirect what {name} receives")


def delete_qdisc(nl: Netlink, ifindex: int, name: str, ingress: bool = False) -> None:
    """Remove a link's root qdisc (the default comes back), or its ingress qdisc with its filters."""
    body = tcmsg(ifindex, INGRESS_HANDLE, TC_H_INGRESS) if ingress else tcmsg(ifindex, 0, TC_H_ROOT)
    nl.queue(RTM_DELQDISC, 0, body, f"remove the {'ingress' if ingress else 'root'} qdisc of {name}")
