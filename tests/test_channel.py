"""The simulated channel, held to statistical bounds.

Every random quantity is checked against its expected value with a bound of at least five
standard deviations, worked out in the test, so a correct channel fails a check less than once in
1.7 million seeds, while an error rate off by more than the bound is caught.  The seeds are
fixed, so the tests are deterministic; the bounds say why a passing seed is not a fluke.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telephrase.errors import TelephraseError
from telephrase.link.base import MemoryLink
from telephrase.link.channel import Channel, ChannelConfig, ChannelError, ChannelLink

SIGMAS = 5


def random_bytes(n: int, seed: int = 1) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def send_all(channel: Channel, data: bytes, frame_size: int) -> bytes:
    """Send ``data`` in frames and join what arrives (the channel must lose nothing)."""
    received = [channel.transmit(data[i : i + frame_size]).data for i in range(0, len(data), frame_size)]
    return b"".join(received)


def error_positions(sent: bytes, received: bytes) -> np.ndarray:
    diff = np.frombuffer(sent, np.uint8) ^ np.frombuffer(received, np.uint8)
    return np.flatnonzero(np.unpackbits(diff))


def adjacent_fraction(positions: np.ndarray) -> float:
    """Fraction of bit errors with another error right before or after them."""
    return float(np.mean(np.isin(positions + 1, positions) | np.isin(positions - 1, positions)))


def burst_error_sd(config: ChannelConfig, n_bits: int) -> float:
    """Standard deviation of the error count over ``n_bits`` bits of a Gilbert-Elliott channel.

    Errors given the state sequence are independent, so Var = E[binomial variance] + the
    variance of the bad-bit count scaled by (ber_bad - ber_good)^2.  For a two-state Markov chain
    with second eigenvalue lam = 1 - p_gb - p_bg, the bad-bit count has variance
    n * pi_b * pi_g * (1 + lam) / (1 - lam) for n much longer than a fade.
    """
    bad = config.bad_fraction
    lam = 1.0 - config.p_good_to_bad - config.p_bad_to_good
    within = bad * config.ber_bad * (1 - config.ber_bad) + (1 - bad) * config.ber_good * (1 - config.ber_good)
    occupancy = bad * (1 - bad) * (1 + lam) / (1 - lam)
    return math.sqrt(n_bits * (within + (config.ber_bad - config.ber_good) ** 2 * occupancy))


def test_a_channel_with_no_errors_and_no_loss_is_perfect():
    channel = Channel()
    data = random_bytes(10_000)
    assert send_all(channel, data, 237) == data
    assert (channel.stats.bits_flipped, channel.stats.lost, channel.stats.bytes) == (0, 0, len(data))

    link = ChannelLink()
    frames = [random_bytes(50, seed) for seed in range(5)]
    for frame in frames:
        link.send(frame)
    assert [link.receive() for _ in frames] == frames
    assert link.receive() is None


@pytest.mark.parametrize("ber", [1e-4, 1e-3, 1e-2])
def test_independent_errors_hit_the_target_ber(ber):
    # 2^20 bits: the error count is binomial(n, ber), 105 +- 10 errors at 1e-4, 10486 +- 102 at 1e-2.
    data = random_bytes(2**17)
    channel = Channel(ChannelConfig(ber=ber, seed=3))
    received = send_all(channel, data, 256)
    n_bits = 8 * len(data)
    errors = len(error_positions(data, received))
    assert errors == channel.stats.bits_flipped
    assert abs(errors - n_bits * ber) <= SIGMAS * math.sqrt(n_bits * ber * (1 - ber))


def test_gilbert_elliott_config_from_average_ber_and_burst_length():
    config = ChannelConfig.gilbert_elliott(1e-2, 10, seed=4)
    assert config.burst
    assert config.mean_ber == pytest.approx(1e-2)
    assert 1 / config.p_bad_to_good == pytest.approx(10)
    assert config.bad_fraction == pytest.approx(1e-2 / 0.5)


def test_gilbert_elliott_hits_the_target_average_ber():
    # 2^22 bits at average BER 1e-2 in fades of 10 bits: 41943 errors expected, sd ~635 (burst_error_sd),
    # so the bound is about +-7.6 %.
    config = ChannelConfig.gilbert_elliott(1e-2, 10, seed=5)
    data = random_bytes(2**19)
    channel = Channel(config)
    received = send_all(channel, data, 256)
    n_bits = 8 * len(data)
    errors = len(error_positions(data, received))
    assert errors == channel.stats.bits_flipped
    assert abs(errors - n_bits * config.mean_ber) <= SIGMAS * burst_error_sd(config, n_bits)


def test_gilbert_elliott_errors_come_in_bursts():
    # Independent errors at BER p have a neighbouring error with probability 1 - (1 - p)^2 ~ 0.02; over
    # ~10^4 errors the measured fraction has sd ~0.0014, so 0.03 is 7 sd away.  In a 10-bit fade
    # with ber_bad 0.5 each neighbour is still in the fade with p 0.9 and wrong with p 0.5, so
    # ~1 - 0.55^2 = 0.70 of errors have a neighbour; 0.5 is far below that.
    data = random_bytes(2**17)
    independent = error_positions(data, send_all(Channel(ChannelConfig(ber=1e-2, seed=6)), data, 256))
    burst_channel = Channel(ChannelConfig.gilbert_elliott(1e-2, 10, seed=6))
    bursty = error_positions(data, send_all(burst_channel, data, 256))
    assert adjacent_fraction(independent) < 0.03
    assert adjacent_fraction(bursty) > 0.5


def test_a_fade_carries_over_into_the_next_frame():
    # 4-byte frames: given an error on a frame's last bit, the next frame's first bit is wrong with
    # p ~0.9 * 0.5 = 0.45 if the fade carries over, ~0.01 if each frame started afresh.  About 330
    # such errors occur in 2^20 bits, so the measured rate has sd ~0.027 and 0.3 is 5.5 sd below 0.45.
    data = random_bytes(2**17)
    channel = Channel(ChannelConfig.gilbert_elliott(1e-2, 10, seed=7))
    errors = error_positions(data, send_all(channel, data, 4))
    last_bits = errors[errors % 32 == 31]
    assert np.mean(np.isin(last_bits + 1, errors)) > 0.3


def test_loss_rate_is_binomial():
    # 10^4 frames at loss 0.1: 1000 +- 30 lost.
    channel = Channel(ChannelConfig(loss=0.1, seed=8))
    frames = 10_000
    deliveries = [channel.transmit(b"0123456789") for _ in range(frames)]
    lost = sum(d.data is None for d in deliveries)
    assert lost == channel.stats.lost
    assert abs(lost - frames * 0.1) <= SIGMAS * math.sqrt(frames * 0.1 * 0.9)
    assert all(d.data == b"0123456789" for d in deliveries if d.data is not None)
    assert all(d.flipped_bits == 0 for d in deliveries)


@pytest.mark.parametrize(
    "config",
    [ChannelConfig(ber=1e-2, loss=0.2), ChannelConfig.gilbert_elliott(2e-2, 20, loss=0.2)],
    ids=["independent", "burst"],
)
def test_the_same_seed_gives_the_same_damage_and_another_seed_does_not(config):
    frames = [random_bytes(200, seed) for seed in range(200)]

    def run(seed: int) -> list:
        channel = Channel(dataclasses.replace(config, seed=seed))
        return [channel.transmit(frame) for frame in frames]

    assert run(11) == run(11)
    assert run(11) != run(12)


def test_air_time_is_bits_over_bandwidth_and_frames_queue():
    channel = Channel(ChannelConfig(bandwidth_bps=50, latency=0.5))
    queued = [channel.transmit(bytes(25), now=0.0) for _ in range(3)]
    assert [d.air_seconds for d in queued] == [4.0, 4.0, 4.0]
    # Each frame waits for the previous one to leave the air; latency is added but holds no air time.
    assert [d.arrival_time for d in queued] == [4.5, 8.5, 12.5]
    later = channel.transmit(bytes(25), now=100.0)
    assert later.arrival_time == 104.5
    assert channel.stats.air_seconds == 16.0


def test_unlimited_bandwidth_takes_no_air_time_but_keeps_latency():
    channel = Channel(ChannelConfig(latency=0.25))
    delivery = channel.transmit(bytes(1000), now=3.0)
    assert (delivery.air_seconds, delivery.arrival_time) == (0.0, 3.25)


def test_lost_frames_still_use_the_air():
    channel = Channel(ChannelConfig(bandwidth_bps=80, loss=1.0))
    delivery = channel.transmit(bytes(10))
    assert delivery.data is None
    assert (delivery.air_seconds, delivery.arrival_time) == (1.0, 1.0)
    assert channel.transmit(bytes(10)).arrival_time == 2.0


def test_channel_link_without_realtime_delivers_at_once_and_counts_air_time():
    inner = MemoryLink()
    link = ChannelLink(ChannelConfig(bandwidth_bps=8000, loss=0.25, seed=9), inner)
    for _ in range(100):
        link.send(bytes(100))
    received = 0
    while link.receive() is not None:
        received += 1
    assert received == 100 - link.channel_stats.lost == inner.stats.frames_sent
    assert link.channel_stats.air_seconds == pytest.approx(10.0)
    assert (link.stats.frames_sent, link.stats.frames_received) == (100, received)


def test_realtime_channel_link_holds_frames_until_they_arrive():
    # 100 bytes at 8000 bit/s are 0.1 s on air, plus 0.05 s latency: the first frame arrives after
    # 0.15 s, the second queues behind it on air and arrives after 0.25 s.
    link = ChannelLink(ChannelConfig(bandwidth_bps=8000, latency=0.05), realtime=True)
    start = time.monotonic()
    link.send(b"a" * 100)
    link.send(b"b" * 100)
    assert link.receive(0) is None
    assert link.receive(2.0) == b"a" * 100
    first = time.monotonic() - start
    assert link.receive(2.0) == b"b" * 100
    second = time.monotonic() - start
    link.close()
    assert 0.149 <= first < 1.0
    assert 0.249 <= second < 1.1


def test_closing_a_realtime_link_drops_frames_in_the_air():
    inner = MemoryLink()
    link = ChannelLink(ChannelConfig(latency=30.0), inner, realtime=True)
    link.send(b"never")
    start = time.monotonic()
    link.close()
    assert time.monotonic() - start < 1.0
    assert inner.receive() is None


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: ChannelConfig(ber=1.5), "ber must be a probability between 0 and 1, got 1.5"),
        (lambda: ChannelConfig(ber=-0.1), "ber must be a probability"),
        (lambda: ChannelConfig(ber=math.nan), "ber must be a probability"),
        (lambda: ChannelConfig(loss=2), "loss must be a probability"),
        (lambda: ChannelConfig(burst=True, ber_bad=1.1), "ber_bad must be a probability"),
        (lambda: ChannelConfig(burst=True, p_bad_to_good=0.0), "p_bad_to_good must be above 0"),
        (lambda: ChannelConfig(bandwidth_bps=-1), "bandwidth_bps must be a finite number of at least 0"),
        (lambda: ChannelConfig(bandwidth_bps=math.inf), "bandwidth_bps must be a finite number"),
        (lambda: ChannelConfig(latency=-0.5), "latency must be a finite number"),
        (lambda: ChannelConfig(seed=-1), "seed must be an integer of at least 0"),
        (lambda: ChannelConfig(seed=1.5), "seed must be an integer"),
        (lambda: ChannelConfig(burst=True, ber=1e-3), "with burst=True set ber_good and ber_bad"),
        (lambda: ChannelConfig.gilbert_elliott(0.6, 10), "average ber must lie between"),
        (lambda: ChannelConfig.gilbert_elliott(1e-3, 0.5), "burst length must be at least 1 bit"),
        (lambda: ChannelConfig.gilbert_elliott(0.45, 2), "needs fades 90% of the time, too often for fades of 2"),
    ],
)
def test_invalid_configs_say_what_is_wrong(make, message):
    with pytest.raises(ChannelError, match=message) as raised:
        make()
    assert isinstance(raised.value, ValueError) and isinstance(raised.value, TelephraseError)
    assert "\n" not in str(raised.value)


@settings(max_examples=60, deadline=None)
@given(
    frame=st.binary(max_size=300),
    ber=st.floats(0.0, 1.0),
    burst=st.booleans(),
    seed=st.integers(0, 2**32),
)
def test_flipped_bits_count_exactly_the_damage(frame, ber, burst, seed):
    config = ChannelConfig.gilbert_elliott(0.05, 4, seed=seed) if burst else ChannelConfig(ber=ber, seed=seed)
    channel = Channel(config)
    for _ in range(3):
        delivery = channel.transmit(frame)
        assert len(delivery.data) == len(frame)
        assert delivery.flipped_bits == len(error_positions(frame, delivery.data))


@pytest.mark.parametrize(
    "config", [ChannelConfig(ber=1e-3), ChannelConfig.gilbert_elliott(1e-3, 30)], ids=["independent", "burst"]
)
def test_a_megabyte_passes_quickly(config):
    # Takes ~0.1 s; the bound only catches a per-bit Python loop, which would take minutes.
    data = random_bytes(2**20)
    channel = Channel(config)
    start = time.perf_counter()
    send_all(channel, data, 256)
    assert time.perf_counter() - start < 2.0
    assert channel.stats.bytes == len(data)
