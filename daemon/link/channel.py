"""A simulated radio channel: bit errors, bursts, lost frames, a bit rate and a delay.

Every claim telephrase makes about a 30-50 bit/s link (how long a message takes on air, how
often it survives, what FEC buys) has to be measured on a channel that behaves like one, over
far more traffic than a bench radio can carry.  ``Channel`` damages frames the way such a link
does; ``ChannelLink`` puts a ``Channel`` in front of any ``Link`` so the rest of the code cannot
tell the difference.

The channel is pure and seeded: the same ``ChannelConfig`` and the same frames always give the
same damage, so a failing test or benchmark can be replayed exactly.  Bit errors are drawn as
positions, not bit by bit, so megabytes pass through in a fraction of a second.

Bits are numbered in transmission order, most significant bit of each byte first.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from ..errors import TelephraseError
from .base import Link, MemoryLink


class ChannelError(TelephraseError, ValueError):
    """A ``ChannelConfig`` setting is out of range."""


@dataclass(frozen=True)
class ChannelConfig:
    """What the channel does to frames.

    Bit errors come from one of two models.  Independent errors (``ber``) are the textbook
    AWGN channel.  Real HF and VHF links fade: errors come in bursts, which is what defeats an
    FEC code sized for the average error rate.  ``burst=True`` uses the Gilbert-Elliott model
    instead: a hidden good/bad state that changes after each bit with the given transition
    probabilities, and a bit error rate for each state.  A bad state lasts 1/``p_bad_to_good``
    bits on average, a good one 1/``p_good_to_bad``; ``gilbert_elliott`` builds a config from
    the average error rate and burst length, which are the numbers one actually knows.
    """

    ber: float = 0.0
    """Probability that a bit is flipped, independently of all others (``burst=False`` only)."""
    burst: bool = False
    """Use the Gilbert-Elliott burst model below instead of ``ber``."""
    p_good_to_bad: float = 0.0003
    """Per-bit chance that a good spell ends: one fade every ~3300 bits (about 100 s at 33 bit/s)."""
    p_bad_to_good: float = 0.03
    """Per-bit chance that a fade ends: fades last ~33 bits (about 1 s at 33 bit/s)."""
    ber_good: float = 0.0
    """Bit error rate outside fades."""
    ber_bad: float = 0.5
    """Bit error rate in a fade; 0.5 because a demodulator that has lost the signal guesses."""
    loss: float = 0.0
    """Probability that a whole frame is never received (missed preamble, collision)."""
    bandwidth_bps: float = 0.0
    """Bits per second on air; 0 means unlimited (no air time)."""
    latency: float = 0.0
    """Seconds added to every frame after its air time (modem turnaround, propagation, relays)."""
    seed: int = 0
    """Seed of the random generator: the same seed gives the same damage."""

    def __post_init__(self) -> None:
        for name in ("ber", "p_good_to_bad", "p_bad_to_good", "ber_good", "ber_bad", "loss"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ChannelError(f"channel {name} must be a probability between 0 and 1, got {value!r}")
        for name in ("p_good_to_bad", "p_bad_to_good"):
            if getattr(self, name) == 0.0:
                raise ChannelError(f"channel {name} must be above 0, or the burst state never changes")
        for name in ("bandwidth_bps", "latency"):
            value = getattr(self, name)
            if not 0.0 <= value < math.inf:
                raise ChannelError(f"channel {name} must be a finite number of at least 0, got {value!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ChannelError(f"channel seed must be an integer of at least 0, got {self.seed!r}")
        if self.burst and self.ber:
            raise ChannelError(
                f"channel ber={self.ber} is for independent errors; with burst=True set ber_good and ber_bad"
            )

    @classmethod
    def gilbert_elliott(
        cls,
        ber: float,
        burst_bits: float,
        *,
        ber_bad: float = 0.5,
        ber_good: float = 0.0,
        loss: float = 0.0,
        bandwidth_bps: float = 0.0,
        latency: float = 0.0,
        seed: int = 0,
    ) -> ChannelConfig:
        """A burst channel with average bit error rate ``ber`` and fades ``burst_bits`` long on average.

        The fraction of time in a fade is ``(ber - ber_good) / (ber_bad - ber_good)``, which
        fixes how often fades start once their length is known.
        """
        if burst_bits < 1.0:
            raise ChannelError(f"channel burst length must be at least 1 bit, got {burst_bits!r}")
        if not ber_good < ber < ber_bad:
            raise ChannelError(
                f"channel average ber must lie between ber_good={ber_good} and ber_bad={ber_bad}, got {ber!r}"
            )
        bad_fraction = (ber - ber_good) / (ber_bad - ber_good)
        p_bad_to_good = 1.0 / burst_bits
        p_good_to_bad = p_bad_to_good * bad_fraction / (1.0 - bad_fraction)
        if p_good_to_bad > 1.0:
            raise ChannelError(
                f"channel average ber {ber} needs fades {bad_fraction:.0%} of the time, "
                f"too often for fades of {burst_bits} bits; use longer fades"
            )
        return cls(
            burst=True,
            p_good_to_bad=p_good_to_bad,
            p_bad_to_good=p_bad_to_good,
            ber_good=ber_good,
            ber_bad=ber_bad,
            loss=loss,
            bandwidth_bps=bandwidth_bps,
            latency=latency,
            seed=seed,
        )

    @property
    def bad_fraction(self) -> float:
        """Long-run fraction of bits sent in a fade (0 without ``burst``)."""
        if not self.burst:
            return 0.0
        return self.p_good_to_bad / (self.p_good_to_bad + self.p_bad_to_good)

    @property
    def mean_ber(self) -> float:
        """Long-run average bit error rate, for either model."""
        if not self.burst:
            return self.ber
        return self.bad_fraction * self.ber_bad + (1.0 - self.bad_fraction) * self.ber_good


@dataclass(frozen=True)
class Delivery:
    """What became of one frame."""

    data: bytes | None
    """The frame as received, or ``None`` if it was lost."""
    flipped_bits: int
    """Bits that differ from what was sent (0 for a lost frame)."""
    air_seconds: float
    """Time the frame occupied the channel (lost frames use the air too)."""
    arrival_time: float
    """Simulated time at which the last bit arrives: start + air time + latency."""


@dataclass
class ChannelStats:
    """Running totals of what the channel has carried, for reports and benchmarks."""

    frames: int = 0
    lost: int = 0
    bytes: int = 0
    """Bytes put on the channel, lost frames included."""
    bits_flipped: int = 0
    """Bit errors in delivered frames."""
    air_seconds: float = 0.0


class Channel:
    """Damages frames according to a ``ChannelConfig`` and keeps a simulated clock.

    Frames are serialized: one starts when both its ``now`` has come and the previous frame has
    left the air, so a burst of frames queues behind a slow modem as it would on a radio.  The
    burst state carries over from one frame to the next, so a fade can span frames.  Not
    thread-safe; ``ChannelLink`` serializes access.
    """

    def __init__(self, config: ChannelConfig | None = None) -> None:
        self.config = config if config is not None else ChannelConfig()
        self.stats = ChannelStats()
        self._rng = np.random.default_rng(self.config.seed)
        self._free_at = 0.0
        self._bad = False
        self._left = 0
        if self.config.burst:
            # Start in the stationary distribution so the first bits see the average error rate.
            self._bad = bool(self._rng.random() < self.config.bad_fraction)
            self._left = self._run_length(self._bad)

    def transmit(self, frame: bytes, now: float = 0.0) -> Delivery:
        """Send ``frame`` at simulated time ``now`` (seconds) and return what arrives, and when."""
        frame = bytes(frame)
        config = self.config
        n_bits = 8 * len(frame)
        air = n_bits / config.bandwidth_bps if config.bandwidth_bps else 0.0
        start = max(now, self._free_at)
        self._free_at = start + air
        lost = bool(self._rng.random() < config.loss) if config.loss else False
        errors = self._error_positions(n_bits, draw=not lost)

        self.stats.frames += 1
        self.stats.bytes += len(frame)
        self.stats.air_seconds += air
        arrival = start + air + config.latency
        if lost:
            self.stats.lost += 1
            return Delivery(None, 0, air, arrival)
        self.stats.bits_flipped += len(errors)
        return Delivery(_flip(frame, errors), len(errors), air, arrival)

    def _error_positions(self, n_bits: int, draw: bool) -> np.ndarray:
        """Bit positions in error within the next ``n_bits`` bits.

        With ``draw=False`` only the burst state advances, so a lost frame still takes its
        share of a fade.
        """
        config = self.config
        if not config.burst:
            if not draw:
                return _NONE
            return self._scatter(np.zeros(1, np.int64), np.array([n_bits], np.int64), config.ber)
        starts, lengths, bad = self._burst_runs(n_bits)
        if not draw:
            return _NONE
        return np.concatenate(
            [
                self._scatter(starts[bad], lengths[bad], config.ber_bad),
                self._scatter(starts[~bad], lengths[~bad], config.ber_good),
            ]
        )

    def _burst_runs(self, n_bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Cover the next ``n_bits`` bits with alternating good and bad runs.

        Run lengths are geometric, as a per-bit transition probability implies; they are drawn
        in batches sized to cover the frame, and the unfinished last run is kept for the next.
        Returns each run's first bit, length and whether it is bad.
        """
        config = self.config
        lengths = [np.array([self._left], np.int64)]
        states = [np.array([self._bad])]
        covered = self._left
        last_bad = self._bad
        mean_cycle = 1.0 / config.p_good_to_bad + 1.0 / config.p_bad_to_good
        while covered < n_bits:
            pairs = int((n_bits - covered) / mean_cycle) + 1
            run_bad = np.resize([not last_bad, last_bad], 2 * pairs)
            run_lengths = self._rng.geometric(np.where(run_bad, config.p_bad_to_good, config.p_good_to_bad))
            lengths.append(run_lengths)
            states.append(run_bad)
            covered += int(run_lengths.sum())
            last_bad = bool(run_bad[-1])
        length = np.concatenate(lengths)
        bad = np.concatenate(states)
        end = np.cumsum(length)
        last = int(np.searchsorted(end, n_bits))
        left = int(end[last]) - n_bits
        self._bad = bool(bad[last])
        self._left = left
        if left == 0:
            self._bad = not self._bad
            self._left = self._run_length(self._bad)
        length = length[: last + 1]
        length[last] -= left
        return np.cumsum(length) - length, length, bad[: last + 1]

    def _run_length(self, bad: bool) -> int:
        config = self.config
        return int(self._rng.geometric(config.p_bad_to_good if bad else config.p_good_to_bad))

    def _scatter(self, starts: np.ndarray, lengths: np.ndarray, ber: float) -> np.ndarray:
        """Error positions in the runs ``[start, start + length)``, each bit in error with
        probability ``ber``: a binomial count of errors placed at distinct random offsets."""
        total = int(lengths.sum())
        count = int(self._rng.binomial(total, ber)) if total and ber else 0
        if not count:
            return _NONE
        offsets = self._rng.choice(total, size=count, replace=False, shuffle=False)
        ends = np.cumsum(lengths)
        run = np.searchsorted(ends, offsets, side="right")
        return starts[run] + offsets - (ends[run] - lengths[run])


_NONE = np.zeros(0, np.int64)


def _flip(frame: bytes, positions: np.ndarray) -> bytes:
    if not len(positions):
        return frame
    mask = np.zeros(8 * len(frame), bool)
    mask[positions] = True
    return (np.frombuffer(frame, np.uint8) ^ np.packbits(mask)).tobytes()


class ChannelLink(Link):
    """A ``Link`` whose frames pass through a simulated ``Channel`` before ``inner`` carries them.

    With ``realtime=False`` a damaged frame reaches ``inner`` at once and the air time is only
    counted, so benchmarks run as fast as the CPU allows.  With ``realtime=True`` a background
    thread hands each frame to ``inner`` when its simulated arrival time has come, so bandwidth
    and latency are felt in wall-clock time, as an interactive loopback should feel them.
    ``close`` discards frames still in the air.
    """

    def __init__(
        self, config: ChannelConfig | None = None, inner: Link | None = None, *, realtime: bool = False
    ) -> None:
        super().__init__()
        self.channel = Channel(config)
        self.inner = inner if inner is not None else MemoryLink()
        self.realtime = realtime
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._in_air: deque[tuple[float, bytes]] = deque()
        self._closed = False
        self._epoch = time.monotonic()
        self._releaser: threading.Thread | None = None
        if realtime:
            self._releaser = threading.Thread(target=self._release, name="channel-link", daemon=True)
            self._releaser.start()

    @property
    def channel_stats(self) -> ChannelStats:
        """Frames lost, bits flipped and air time, as counted by the channel."""
        return self.channel.stats

    def send(self, frame: bytes) -> None:
        frame = bytes(frame)
        with self._lock:
            self.stats.frames_sent += 1
            self.stats.bytes_sent += len(frame)
            now = time.monotonic() - self._epoch if self.realtime else 0.0
            delivery = self.channel.transmit(frame, now)
            if delivery.data is None:
                return
            if self.realtime:
                # Frames are serialized and latency is constant, so arrival order is send order.
                self._in_air.append((self._epoch + delivery.arrival_time, delivery.data))
                self._wake.notify()
                return
        self.inner.send(delivery.data)

    def receive(self, timeout: float | None = 0.0) -> bytes | None:
        frame = self.inner.receive(timeout)
        if frame is not None:
            with self._lock:
                self.stats.frames_received += 1
                self.stats.bytes_received += len(frame)
        return frame

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._in_air.clear()
            self._wake.notify()
        if self._releaser is not None:
            self._releaser.join()
        self.inner.close()

    def _release(self) -> None:
        """Hand each frame to ``inner`` once its arrival time has passed."""
        while True:
            with self._lock:
                while not self._closed:
                    wait = self._in_air[0][0] - time.monotonic() if self._in_air else None
                    if wait is not None and wait <= 0:
                        break
                    self._wake.wait(wait)
                if self._closed:
                    return
                _, frame = self._in_air.popleft()
            self.inner.send(frame)
