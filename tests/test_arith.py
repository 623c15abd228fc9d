"""The arithmetic coder: streams that start after lead bits and end on the shortest flush
decode to the symbols coded, and the shortest flush is never longer than the classic one."""

from __future__ import annotations

import random

import pytest

from telephrase.codec.arith import ArithmeticDecoder, ArithmeticEncoder, FrequencyModel


def _stream(seed: int) -> tuple[list[list[int]], list[int]]:
    rng = random.Random(seed)
    priors = [[rng.randint(1, 30) for _ in range(rng.randint(2, 9))] for _ in range(rng.randint(0, 40))]
    return priors, [rng.randrange(len(p)) for p in priors]


def _coded(priors: list[list[int]], symbols: list[int], lead: tuple[int, int], shortest: bool) -> bytes:
    out = ArithmeticEncoder(lead=lead)
    for prior, symbol in zip(priors, symbols):
        FrequencyModel(prior).encode(out, symbol)
    return out.finish(shortest)


@pytest.mark.parametrize("lead", [(0, 0), (6, 4), (1, 1)])
def test_streams_round_trip_after_lead_bits_with_either_flush(lead):
    saved = 0
    for seed in range(1500):
        priors, symbols = _stream(seed)
        lengths = []
        for shortest in (False, True):
            data = _coded(priors, symbols, lead, shortest)
            if lead[1]:
                assert data[0] >> (8 - lead[1]) == lead[0]
            decoder = ArithmeticDecoder(data, lead[1])
            assert [FrequencyModel(p).decode(decoder) for p in priors] == symbols, (seed, shortest)
            lengths.append(len(data))
        assert lengths[1] <= lengths[0]
        saved += lengths[0] - lengths[1]
    assert saved > 1500 * 0.05


def test_a_stream_that_needs_no_bits_writes_only_its_lead():
    assert _coded([], [], (6, 4), True) == bytes([0x60])
    assert _coded([[1, 1]], [0], (0, 0), True) == b""
