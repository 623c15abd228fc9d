"""Sound cards through PortAudio: the microphone in 16 kHz blocks, the speaker at any rate.

A station runs for months while USB sound cards are unplugged, replugged and reset.  Nothing
here gives up on a device: the capture thread reopens its card with backoff (``Retry``) and
logs once per change of state, never once per attempt; the speaker opens its card for each
message, so a message fails alone (``DeviceError``) and the next one finds the card again.

PortAudio lists the sound cards only when it starts, so a card plugged in later is not in its
list.  ``rescan`` restarts PortAudio, which it can only do while no stream is open: with the
microphone open, it asks the capture thread to let go, which it does after its current block
and then reopens on the new list (a gap of one block).  Devices are found by name
(``find_device``), so a card is found again after a rescan even when its index moved.

PortAudio's start also makes ALSA and JACK print dozens of lines about devices this machine
does not have; they go to this module's logger at debug level instead of to stderr, where
they would fill the journal at every rescan.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import av
import numpy as np
import pyaudio

from ..errors import TelephraseError
from .files import STT_RATE, resample

log = logging.getLogger(__name__)

BLOCK = 0.1
"""Seconds of audio per captured block (as ``wavdevices.BLOCK``)."""
BUFFERED = 5.0
"""Seconds of captured blocks kept for a reader that falls behind; past that the capture
thread waits, and the sound card drops what it cannot hold."""
CHUNK = 0.05
"""Seconds of audio per write while playing: how quickly ``Playback.stop`` takes effect."""
RESCAN_WAIT = 1.0
"""Seconds a rescan waits for the capture thread to close its stream (it does within a block)."""
_BUSY = -9985
"""PortAudio's paDeviceUnavailable: ALSA's EBUSY, another program holds the card."""

T = TypeVar("T")


class DeviceError(TelephraseError):
    """A sound card is missing, busy, ambiguous or refuses to open."""


@dataclass(frozen=True)
class DeviceInfo:
    """One PortAudio device, as ``telephrase devices`` lists it."""

    index: int
    name: str
    max_input_channels: int
    max_output_channels: int
    default_rate: int
    host_api: str
    default_input: bool = False
    default_output: bool = False

    def channels(self, direction: str) -> int:
        return self.max_input_channels if direction == "input" else self.max_output_channels


# ---------------------------------------------------------------------------------------------
# PortAudio, shared by every stream of the process


_ALSA_HANDLER = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p)
_JACK_HANDLER = ctypes.CFUNCTYPE(None, ctypes.c_char_p)


@_ALSA_HANDLER
def _alsa_message(file: bytes, line: int, function: bytes, err: int, fmt: bytes) -> None:
    # The arguments of the printf-style message do not reach Python; its format is enough to debug.
    log.debug("ALSA %s: %s", function.decode(errors="replace"), fmt.decode(errors="replace"))


@_JACK_HANDLER
def _jack_message(message: bytes) -> None:
    log.debug("JACK %s", message.decode(errors="replace"))


def _quiet_libraries() -> None:
    """Send ALSA's and JACK's diagnostics to the log (debug) instead of stderr."""
    if name := ctypes.util.find_library("asound"):
        ctypes.CDLL(name).snd_lib_error_set_handler(_alsa_message)
    if name := ctypes.util.find_library("jack"):
        jack = ctypes.CDLL(name)
        jack.jack_set_error_function(_jack_message)
        jack.jack_set_info_function(_jack_message)


class _PortAudio:
    """One PortAudio for the process, restarted by ``rescan`` once no stream is open."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._pa: pyaudio.PyAudio | None = None
        self._streams = 0
        self._generation = 0
        """How many times PortAudio was restarted: a rescan waits for it to move."""
        self._quiet = False
        self.stale = False
        """A rescan is waiting for the open streams to close; their owners should let go."""

    def _get(self) -> pyaudio.PyAudio:
        """PortAudio, started if needed.  Caller holds the lock."""
        if self._pa is None:
            if not self._quiet:
                _quiet_libraries()
                self._quiet = True
            self._pa = pyaudio.PyAudio()
        return self._pa

    def _restart(self) -> None:
        """Stop PortAudio, so that its next use starts it on the cards present then.  Caller
        holds the lock, with no stream open."""
        if self._pa is not None:
            self._pa.terminate()
            self._pa = None
        self.stale = False
        self._generation += 1
        self._cond.notify_all()

    def devices(self) -> list[DeviceInfo]:
        with self._cond:
            pa = self._get()
            apis = [pa.get_host_api_info_by_index(i)["name"] for i in range(pa.get_host_api_count())]
            default_input = _default_index(pa.get_default_input_device_info)
            default_output = _default_index(pa.get_default_output_device_info)
            found = []
            for i in range(pa.get_device_count()):
                d = pa.get_device_info_by_index(i)
                found.append(DeviceInfo(
                    index=i, name=d["name"], max_input_channels=d["maxInputChannels"],
                    max_output_channels=d["maxOutputChannels"], default_rate=round(d["defaultSampleRate"]),
                    host_api=apis[d["hostApi"]], default_input=i == default_input, default_output=i == default_output,
                ))
            return found

    def open(self, **kwargs) -> pyaudio.Stream:
        with self._cond:
            stream = self._get().open(**kwargs)
            self._streams += 1
            return stream

    def close(self, stream: pyaudio.Stream) -> None:
        with self._cond:
            try:
                stream.close()
            except OSError as exc:  # the card is already gone
                log.debug("closing a stream: %s", exc)
            self._streams -= 1
            if self.stale and self._streams == 0:
                self._restart()

    def rescan(self, wait: float = RESCAN_WAIT) -> bool:
        """Restart PortAudio to see the cards present now; ``False`` if a stream stayed open
        for ``wait`` seconds (the restart then happens when it closes)."""
        with self._cond:
            generation = self._generation
            self.stale = True
            if self._streams == 0:
                self._restart()
                return True
            return self._cond.wait_for(lambda: self._generation != generation, wait)


def _default_index(query: Callable[[], dict]) -> int:
    """The index of PortAudio's default device, or -1 when it has none."""
    try:
        return query()["index"]
    except OSError:
        return -1


_portaudio = _PortAudio()


def list_devices() -> list[DeviceInfo]:
    """Every device PortAudio knows now."""
    return _portaudio.devices()


def rescan(wait: float = RESCAN_WAIT) -> bool:
    """Re-read the list of sound cards (PortAudio reads it only when it starts); ``False`` if
    a stream stayed open for ``wait`` seconds, and the list is re-read once it closes."""
    return _portaudio.rescan(wait)


def format_devices(devices: list[DeviceInfo]) -> str:
    """A table for ``telephrase devices``; ``*`` marks the defaults."""
    if not devices:
        return "no audio devices (is the user in group 'audio'? does 'aplay -l' list a card?)"
    rows = [("index", "in", "out", "rate", "api", "name")]
    for d in devices:
        rows.append((
            str(d.index), f"{d.max_input_channels}{'*' if d.default_input else ''}",
            f"{d.max_output_channels}{'*' if d.default_output else ''}", str(d.default_rate), d.host_api, d.name,
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row[:5], widths)) + "  " + row[5] for row in rows]
    return "\n".join(lines) + "\n(* = default; [audio] input/output take an index or a part of a name)"


def match_device(spec: str, direction: str, devices: list[DeviceInfo]) -> DeviceInfo:
    """The ``direction`` ("input" or "output") device that ``spec`` names among ``devices``:
    an index, an exact name, a unique part of a name (case ignored), or "" for the default."""
    usable = [d for d in devices if d.channels(direction) > 0]
    hint = "run 'telephrase devices' to list them"
    if not spec:
        for d in usable:
            if d.default_input if direction == "input" else d.default_output:
                return d
        raise DeviceError(f"there is no default {direction} device; set [audio] {direction} ({hint})")
    if spec.isdigit():
        for d in usable:
            if d.index == int(spec):
                return d
        raise DeviceError(f"there is no {direction} device with index {spec}; {hint}")
    wanted = spec.casefold()
    exact = [d for d in usable if d.name.casefold() == wanted]
    matches = exact or [d for d in usable if wanted in d.name.casefold()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise DeviceError(f"no {direction} device matches {spec!r} (is it plugged in?); {hint}")
    names = "; ".join(f"{d.index}: {d.name}" for d in matches)
    raise DeviceError(f"{spec!r} matches {len(matches)} {direction} devices ({names}); give more of the name or the index")


def find_device(spec: str, direction: str) -> DeviceInfo:
    """``match_device`` over PortAudio's devices, rescanning once when none matches."""
    try:
        return match_device(spec, direction, list_devices())
    except DeviceError:
        if not rescan():
            raise
    return match_device(spec, direction, list_devices())


def _reason(exc: Exception) -> str:
    """What went wrong, in the words an operator needs."""
    if isinstance(exc, OSError) and exc.errno == _BUSY:
        return "busy: another program is using it"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)


# ---------------------------------------------------------------------------------------------
# Reopening with backoff


class Retry:
    """The wait between attempts to reopen a device, and a log that speaks only when the
    device's state changes (lost, failing differently, back), not at every attempt."""

    def __init__(self, what: str, first: float = 0.5, longest: float = 10.0) -> None:
        self.what = what
        self.first = first
        self.longest = longest
        self.delay = first
        self.reason: str | None = None
        """Why the last attempt failed; ``None`` while the device works."""
        self._since = 0.0

    def failed(self, reason: str) -> float:
        """Record a failed attempt; returns the seconds to wait before the next one."""
        if self.reason is None:
            self._since = time.monotonic()
            log.warning("%s: %s; retrying until it works", self.what, reason)
        elif reason != self.reason:
            log.warning("%s: now %s; still retrying", self.what, reason)
        self.reason = reason
        delay, self.delay = self.delay, min(self.delay * 2, self.longest)
        return delay

    def succeeded(self) -> None:
        if self.reason is not None:
            log.info("%s works again after %.0f s", self.what, time.monotonic() - self._since)
        self.reason = None
        self.delay = self.first


def reopen(attempt: Callable[[], T], retry: Retry, stop: threading.Event,
           errors: tuple[type[BaseException], ...] = (OSError, TelephraseError)) -> T | None:
    """``attempt()`` until it returns, waiting ``retry``'s backoff after each of ``errors``;
    ``None`` once ``stop`` is set."""
    while not stop.is_set():
        try:
            result = attempt()
        except errors as exc:
            stop.wait(retry.failed(_reason(exc)))
            continue
        retry.succeeded()
        return result
    return None


# ---------------------------------------------------------------------------------------------
# The microphone


class Capture:
    """The microphone: mono float32 blocks of ``block`` seconds at ``rate`` Hz (Whisper's and
    the VAD's 16 kHz), from the card at its own rate.

    A thread owns the stream and does blocking reads: a read that fails raises in that thread,
    which closes the card and reopens it, where a callback stream that dies would just stop
    calling.  Blocks wait in a queue of ``BUFFERED`` seconds for ``read``.  Samples come as
    16-bit integers, what sound cards deliver, and become floats here.
    """

    def __init__(self, spec: str = "", block: float = BLOCK, rate: int = STT_RATE, retry: Retry | None = None) -> None:
        self.spec = spec
        self.block = block
        self.rate = rate
        self.retry = retry or Retry(f"microphone {spec or '(default)'}")
        self.device: DeviceInfo | None = None
        """The card open now; ``None`` while there is none."""
        self._blocks: queue.Queue[np.ndarray] = queue.Queue(maxsize=max(1, round(BUFFERED / block)))
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"capture {spec}", daemon=True)
        self._thread.start()

    def read(self, timeout: float | None = 1.0) -> np.ndarray | None:
        """The next block, or ``None`` if none came within ``timeout`` seconds (the card is
        away, or the capture is closed)."""
        try:
            return self._blocks.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self._closed.set()
        # A read returns within a block; a card that hangs must not hang the station's exit.
        self._thread.join(timeout=1.0 + 2 * self.block)
        if self._thread.is_alive():
            log.warning("microphone %s: the capture thread did not stop", self.spec or "(default)")

    def _open(self) -> tuple[pyaudio.Stream, DeviceInfo]:
        device = find_device(self.spec, "input")
        stream = _portaudio.open(
            rate=device.default_rate, channels=1, format=pyaudio.paInt16, input=True,
            input_device_index=device.index, frames_per_buffer=round(device.default_rate * self.block),
        )
        return stream, device

    def _run(self) -> None:
        while not self._closed.is_set():
            opened = reopen(self._open, self.retry, self._closed)
            if opened is None:
                return
            stream, self.device = opened
            log.info("microphone: %s at %d Hz", self.device.name, self.device.default_rate)
            try:
                self._pump(stream, self.device.default_rate)
            except OSError as exc:
                self._closed.wait(self.retry.failed(f"stopped working ({_reason(exc)})"))
            finally:
                self.device = None
                _portaudio.close(stream)

    def _pump(self, stream: pyaudio.Stream, device_rate: int) -> None:
        """Read, resample and queue blocks until closed, or until a rescan wants the stream."""
        resampler = av.AudioResampler(format="flt", layout="mono", rate=self.rate)
        frames = round(device_rate * self.block)
        size = round(self.rate * self.block)
        pending = np.zeros(0, dtype=np.float32)
        while not self._closed.is_set() and not _portaudio.stale:
            data = np.frombuffer(stream.read(frames, exception_on_overflow=False), dtype=np.int16) / np.float32(32768)
            frame = av.AudioFrame.from_ndarray(data.reshape(1, -1), format="flt", layout="mono")
            frame.sample_rate = device_rate
            pending = np.concatenate([pending, *(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))])
            while len(pending) >= size:
                block, pending = pending[:size].copy(), pending[size:]
                self._put(block)

    def _put(self, block: np.ndarray) -> None:
        """Queue ``block``, waiting while the reader is behind; a rescan does not wait for
        the reader, or a card faster than real time would keep PortAudio from restarting."""
        while not self._closed.is_set() and not _portaudio.stale:
            try:
                self._blocks.put(block, timeout=0.1)
                return
            except queue.Full:
                continue


# ---------------------------------------------------------------------------------------------
# The speaker


class Playback:
    """The speaker: ``play`` blocks until the audio is out, ``stop`` (any thread) cuts it short.

    The card is opened for each piece, so an unplugged card fails that piece alone and the
    next finds it again.  A card that refuses the piece's rate (USB cards often run at 48 kHz
    only, Piper speaks at 22,050 Hz) gets the audio resampled to the rate it reports.
    """

    def __init__(self, spec: str = "") -> None:
        self.spec = spec
        self._refused: set[tuple[str, int]] = set()
        """(device name, rate) pairs the card would not open at."""
        self._lock = threading.Lock()
        self._cut = threading.Event()
        self._closed = False

    def play(self, samples: np.ndarray, rate: int) -> bool:
        """Play mono float samples at ``rate`` Hz; ``True`` if played to the end, ``False`` if
        stopped.  Raises ``DeviceError`` when the card cannot be opened."""
        with self._lock:
            if self._closed:
                return False
            self._cut.clear()
            device = find_device(self.spec, "output")
            stream, device_rate = self._open(device, rate)
            try:
                audio = resample(samples, rate, device_rate) if device_rate != rate else samples.astype(np.float32)
                channels = min(2, device.max_output_channels)
                # Both channels of a stereo card: radio interfaces differ in which one they take.
                pcm = np.repeat(np.clip(audio, -1.0, 1.0), channels).astype(np.float32)
                step = round(device_rate * CHUNK) * channels
                for at in range(0, len(pcm), step):
                    if self._cut.is_set():
                        return False
                    stream.write(pcm[at : at + step].tobytes())
                if self._cut.is_set():
                    return False
                stream.stop_stream()  # returns once the card has played everything
                return True
            except OSError as exc:
                raise DeviceError(f"speaker {device.name}: {_reason(exc)}") from None
            finally:
                _portaudio.close(stream)  # without stop_stream, this drops what is still queued

    def stop(self) -> None:
        """Cut short the piece playing now (if any)."""
        self._cut.set()

    def close(self) -> None:
        self._closed = True
        self.stop()

    def _open(self, device: DeviceInfo, rate: int) -> tuple[pyaudio.Stream, int]:
        """A stream at ``rate``, or at the card's own rate if it refuses that one."""
        if rate != device.default_rate and (device.name, rate) not in self._refused:
            try:
                return self._stream(device, rate), rate
            except OSError as exc:
                if exc.errno == _BUSY:
                    raise DeviceError(f"speaker {device.name}: {_reason(exc)}") from None
                log.info("speaker %s refuses %d Hz; resampling to %d Hz", device.name, rate, device.default_rate)
                self._refused.add((device.name, rate))
        try:
            return self._stream(device, device.default_rate), device.default_rate
        except OSError as exc:
            raise DeviceError(f"speaker {device.name}: {_reason(exc)}") from None

    def _stream(self, device: DeviceInfo, rate: int) -> pyaudio.Stream:
        return _portaudio.open(rate=rate, channels=min(2, device.max_output_channels), format=pyaudio.paFloat32,
                               output=True, output_device_index=device.index)
