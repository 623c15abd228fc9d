"""AX.25 UI framing: the byte layout (test vector), callsigns, and what the receiver skips."""

from __future__ import annotations

import random

import pytest

from telephrase.config import ConfigError, config_from_dict
from telephrase.link.ax25 import Address, Ax25Link, ax25_decode, ax25_encode, parse_address, station_id_of
from telephrase.link.base import MemoryLink
from telephrase.link.framing import FEC_CHOICES
from telephrase.pipeline import frame_coding

VECTOR = bytes.fromhex("a8a090a4a68ae0 9c60868298986f 03f0 6869")


def test_vector():
    assert ax25_encode(b"hi", parse_address("n0call-7"), parse_address("TPHRSE")) == VECTOR
    assert ax25_decode(VECTOR).source == Address("N0CALL", 7)
    assert ax25_decode(VECTOR).destination == Address("TPHRSE") and ax25_decode(VECTOR).info == b"hi"


def test_a_frame_through_digipeaters_is_accepted_with_the_path_skipped():
    digi = bytes(c << 1 for c in b"WIDE1 ") + bytes([0xE0 | 1 << 1 | 1])
    relayed = VECTOR[:13] + bytes([VECTOR[13] & 0xFE]) + digi + VECTOR[14:]
    assert ax25_decode(relayed).info == b"hi" and ax25_decode(relayed).source == Address("N0CALL", 7)


@pytest.mark.parametrize("frame", [VECTOR[:15], VECTOR[:14] + b"\x3f\xf0hi", VECTOR[:15] + b"\xcchi",
                                   b"\x01" + VECTOR[1:], VECTOR[:13] + bytes([VECTOR[13] & 0xFE]) + VECTOR[14:]])
def test_other_frames_are_not_ours(frame):
    assert ax25_decode(frame) is None


def test_random_bytes_never_crash_the_decoder():
    rng = random.Random(5)
    for _ in range(20000):
        frame = bytes(rng.randrange(256) for _ in range(rng.randrange(40)))
        result = ax25_decode(frame)
        assert result is None or isinstance(result.info, bytes)


@pytest.mark.parametrize("text, address", [("N0CALL", Address("N0CALL")), ("dl1abc-15", Address("DL1ABC", 15)),
                                           (" K1X-0 ", Address("K1X"))])
def test_callsigns(text, address):
    assert parse_address(text) == address
    assert 0 <= station_id_of(address) <= 0xFFFF


@pytest.mark.parametrize("text", ["", "TOOLONG1", "N0CALL-16", "N0-CALL", "ÄÖ1"])
def test_bad_callsigns_are_config_errors(text):
    with pytest.raises(ConfigError, match="link.callsign: .* is not a callsign"):
        config_from_dict({"link": {"ax25": True, "callsign": text}})


def test_the_link_wraps_and_skips_other_traffic():
    air = MemoryLink()
    link = Ax25Link(air, Address("N0CALL", 1), Address("TPHRSE"))
    link.send(b"frame")
    assert air.receive() == ax25_encode(b"frame", Address("N0CALL", 1), Address("TPHRSE"))
    air.send(ax25_encode(b"aprs", Address("DL1ABC"), Address("APRS")))
    air.send(b"\x00junk")
    air.send(ax25_encode(b"ours", Address("DL1ABC", 3), Address("TPHRSE")))
    assert link.receive() == b"ours" and link.foreign == 2


def test_auto_fec_is_none_in_ax25_and_a_chosen_strength_is_kept():
    ax25 = {"ax25": True, "callsign": "N0CALL-1", "station_id": -1}
    assert frame_coding(config_from_dict({"link": ax25})).parity == 0
    assert frame_coding(config_from_dict({"link": {**ax25, "fec": "low"}})).parity == 8
    coding = frame_coding(config_from_dict({"link": ax25}))
    assert coding.sender == station_id_of(Address("N0CALL", 1))
    assert frame_coding(config_from_dict({})).parity == FEC_CHOICES["auto"]
