"""The bandwidth limit without root: tc's rate grammar, the plan of tc steps from one pair of limits to
another, the netlink encoding of those steps (read back as the kernel reads it), and how the flags, the
Python API's keywords and the options' checks turn into the two rates."""
from __future__ import annotations

import struct

import pytest

from corral.api.models.create import create_options
from corral.errors import InvalidArgument
from corral.network import bandwidth, tc
from corral.network.netlink import _attrs
from corral.runtime.options import ContainerOptions

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("text", "bits"), [
    ("10mbit", 10_000_000), ("10Mbit", 10_000_000), ("1.5mbit", 1_500_000), ("64kbit", 64_000),
    ("1gbit", 10**9), ("2tbit", 2 * 10**12), ("800", 800), ("800bit", 800), ("1kibit", 1024),
    ("1mibit", 1 << 20), ("1mbps", 8_000_000), ("125kbps", 1_000_000), ("1kibps", 8192), ("100bps", 800),
    (" 10mbit ", 10_000_000), ("0", 0), ("0mbit", 0), ("8bit", 8),
])
def test_rates_read_as_tc_reads_them(text, bits):
    assert bandwidth.parse_rate(text) == bits


@pytest.mark.parametrize("text", ["10mb", "10m", "mbit", "", "-5mbit", "10 mbit", "1.2.3mbit", "10xbit", "7bit",
                                  "10mbits", "fast"])
def test_a_bad_rate_is_one_clear_error(text):
    with pytest.raises(InvalidArgument, match="invalid rate"):
        bandwidth.parse_rate(text)


def test_flags_one_rate_for_both_directions_the_apart_ones_win():
    none = {"network_bandwidth": None, "network_bandwidth_in": None, "network_bandwidth_out": None}
    assert bandwidth.flags(dict(none, network_bandwidth="10mbit")) == \
        {"network_bandwidth_in": 10_000_000, "network_bandwidth_out": 10_000_000}
    assert bandwidth.flags(dict(none, network_bandwidth="10mbit", network_bandwidth_out="1mbit")) == \
        {"network_bandwidth_in": 10_000_000, "network_bandwidth_out": 1_000_000}
    assert bandwidth.flags(dict(none, network_bandwidth_in="0")) == {"network_bandwidth_in": 0}
    with pytest.raises(InvalidArgument, match='invalid argument "10mb" for "--network-bandwidth-out" flag'):
        bandwidth.flags(dict(none, network_bandwidth_out="10mb"))


def test_the_python_api_takes_a_rate_string_or_bits_per_second():
    assert create_options("run", {"network_bandwidth": "10mbit", "network_bandwidth_out": 2_000_000}) == \
        {"network_bandwidth_in": 10_000_000, "network_bandwidth_out": 2_000_000}
    assert create_options("run", {"network_bandwidth_in": "1mbps"}) == {"network_bandwidth_in": 8_000_000}
    for bad in (-1, 1.5, True, 7):
        with pytest.raises(InvalidArgument):
            create_options("run", {"network_bandwidth": bad})
    with pytest.raises(InvalidArgument, match=r"run\(\): invalid rate"):
        create_options("run", {"network_bandwidth_in": "10mb"})


def checked(**values: object) -> ContainerOptions:
    opts = ContainerOptions(**values)
    opts.check()
    return opts


def test_a_limit_puts_a_container_without_network_flag_on_the_default_switch():
    assert checked(network_bandwidth_out=1000).network == "bridge"
    assert checked(network_bandwidth_in=0).network == "none", "0 is no limit"
    assert checked(network_bandwidth_in=0).network_bandwidth_in is None
    assert checked(network="mynet", network_bandwidth_in=1000).network == "mynet"


@pytest.mark.parametrize(("network", "said"), [("none", "has none"), ("host", "not the container's to limit"),
                                               ("container:web", "set it on the container whose network")])
def test_a_limit_is_refused_without_a_network_of_the_containers_own(network, said):
    with pytest.raises(InvalidArgument, match=said):
        checked(network=network, network_bandwidth_in=1000)
    assert checked(network=network, network_bandwidth_in=0).network == network, "lifting one is no limit"


def test_a_negative_rate_is_refused_by_the_options():
    with pytest.raises(InvalidArgument, match="bits per second"):
        checked(network="bridge", network_bandwidth_out=-1)


# the plan ------------------------------------------------------------------------------------------------

VETH, IFB, ALIAS = "crv0123456789ab", "crb0123456789ab", "corral:tag:cid"


def test_tbf_sizes_a_bucket_of_20ms_and_a_queue_of_50ms_more():
    assert bandwidth.tbf(10_000_000, 1500) == (1_250_000, 25_000, 87_500)
    rate, burst, limit = bandwidth.tbf(64_000, 1500)
    assert (rate, burst) == (8000, 3028), "never less than two full frames"
    assert limit == 400 + 3028
    assert bandwidth.tbf(64_000, 9000)[1] == 18028


def test_start_plans_both_directions_the_ifb_shaped_before_anything_is_redirected_to_it():
    steps = bandwidth.plan(VETH, ALIAS, (None, None), (10_000_000, 20_000_000))
    assert steps == [("tbf", VETH, 1_250_000, 25_000, 87_500), ("ifb", IFB, ALIAS),
                     ("tbf", IFB, 2_500_000, 50_000, 175_000), ("redirect", VETH, IFB)]
    assert bandwidth.plan(VETH, ALIAS, (None, None), (None, 8000)) == [
        ("ifb", IFB, ALIAS), ("tbf", IFB, 1000, 3028, 3078), ("redirect", VETH, IFB)]
    assert bandwidth.plan(VETH, ALIAS, (None, None), (None, None)) == []


def test_update_plans_only_what_changes():
    assert bandwidth.plan(VETH, ALIAS, (10_000_000, 10_000_000), (10_000_000, 10_000_000)) == []
    assert bandwidth.plan(VETH, ALIAS, (10_000_000, 10_000_000), (20_000_000, 10_000_000)) == [
        ("tbf", VETH, 2_500_000, 50_000, 175_000)]
    assert bandwidth.plan(VETH, ALIAS, (None, 10_000_000), (None, 20_000_000)) == [
        ("tbf", IFB, 2_500_000, 50_000, 175_000)], "the ifb and its redirect stay"


def test_lifting_a_limit_removes_the_redirect_before_the_ifb():
    assert bandwidth.plan(VETH, ALIAS, (10_000_000, 10_000_000), (None, None)) == [
        ("untbf", VETH), ("unredirect", VETH), ("unlink", IFB)]


def test_the_ifb_is_named_after_the_veth_so_ownership_reads_off_the_name():
    assert bandwidth.ifb_name(VETH) == IFB and len(IFB) <= 15


# the encoding, read back as the kernel reads it -----------------------------------------------------------

def test_tbf_options_carry_the_rate_the_burst_and_the_limit():
    opts = dict(_attrs(tc.tbf_options(1_250_000, 25_000, 87_500)))
    cell_log, linklayer, _, _, _, rate = struct.unpack_from("=BBHhHI", opts[tc.TCA_TBF_PARMS])
    limit, buffer, mtu = struct.unpack_from("=III", opts[tc.TCA_TBF_PARMS], 24)
    assert (linklayer, rate, limit) == (tc.TC_LINKLAYER_ETHERNET, 1_250_000, 87_500)
    assert struct.unpack("=I", opts[tc.TCA_TBF_BURST]) == (25_000,)
    assert tc.TCA_TBF_RATE64 not in opts


def test_a_rate_past_32_bits_of_bytes_goes_in_rate64():
    opts = dict(_attrs(tc.tbf_options(5_000_000_000, 1 << 20, 1 << 22)))
    assert struct.unpack_from("=BBHhHI", opts[tc.TCA_TBF_PARMS])[5] == 0xFFFFFFFF
    assert struct.unpack("=Q", opts[tc.TCA_TBF_RATE64]) == (5_000_000_000,)


def test_the_redirect_matches_every_packet_and_steals_it_to_the_ifb():
    opts = dict(_attrs(tc.redirect_options(42)))
    flags, _, nkeys = struct.unpack_from("=BBB", opts[tc.TCA_U32_SEL])
    assert (flags, nkeys) == (tc.TC_U32_TERMINAL, 1)
    assert struct.unpack_from("=II", opts[tc.TCA_U32_SEL], 16) == (0, 0), "mask 0, value 0: every packet"
    action = dict(_attrs(dict(_attrs(opts[tc.TCA_U32_ACT]))[1]))
    assert action[tc.TCA_ACT_KIND] == b"mirred\0"
    mirred = dict(_attrs(action[tc.TCA_ACT_OPTIONS]))[tc.TCA_MIRRED_PARMS]
    _, _, verdict, _, _, eaction, ifindex = struct.unpack("=IIiiiiI", mirred)
    assert (verdict, eaction, ifindex) == (tc.TC_ACT_STOLEN, tc.TCA_EGRESS_REDIR, 42)
