"""The station: one process that transmits what the operator says and speaks what it hears.

Four threads around one queue each, so no stage stalls another:

- the **main loop** reads the microphone, follows the push-to-talk key, cuts the speech into
  phrases at its pauses (``segment``) while the key is down, and keeps systemd's watchdog fed;
- the **sender** transcribes each phrase, codes and frames it, waits for a free channel and
  sends it: the first phrase of a long transmission is on air while the operator still talks;
- the **listener** takes frames off the link, reassembles, authenticates and decodes them;
- the **speaker** synthesizes and plays the messages in the order they came.

Half-duplex (the default): received speech is held while this station transmits, and a
transmission waits while frames are being heard (``busy_hold``), at most ``busy_timeout``.
Every message sent or received is logged and appended to the JSON-lines message log.

On SIGTERM the station stops listening to the microphone, sends the phrases it already has,
speaks what it already received, and only then exits; what it could not speak (the speaker
gone) stays in the message log.  SIGHUP reloads the configuration: the loaded models stay when
their settings did not change, a changed key or codec applies to the next message, and a file
that does not load leaves the running configuration in place.

A station never lives on deaf or mute.  One message that fails (a frame the decoder trips on, a
voice that cannot say it, a message log that cannot be written) is logged and the thread goes
on with the next; anything else that ends a thread stops the station, which then exits with
status 1 and stops feeding the watchdog, so that systemd restarts it.
"""

from __future__ import annotations

import functools
import itertools
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..audio.wavdevices import WavSink, WavSource
from ..codec.message import Message
from ..config import Config, load_config
from ..errors import AudioError, TelephraseError
from ..link.base import Link
from ..link.transport import describe, open_link
from ..pipeline import Engines, Receiver, Sender, TransmissionContext, message_auth
from ..speech.pitchstream import PitchStream
from ..speech.segment import Phrase, PhraseCutter
from .keying import open_key
from .memory import release_memory
from .messagelog import MessageLog, default_path
from .service import Notifier, SignalEvents

log = logging.getLogger(__name__)

POLL = 0.05
"""Seconds between looks at the key and the queues when nothing else wakes a thread."""
KEPT = 256
"""Messages ``Station.sent`` and ``Station.spoken`` keep: a station runs for months, its
records must not grow (the message log on disk is the full record)."""
_END = None
"""Queue marker: the transmission (or the station) is over."""
PREROLL = 1.0
"""Seconds of audio from before the key went down that the transmission starts with: people
start talking as they press, and a voice key closes only once speech has begun."""


@dataclass
class StationStats:
    sent: int = 0
    received: int = 0
    spoken: int = 0
    dropped_phrases: int = 0
    """Phrases with no speech recognised in them: nothing to send."""
    text_only: int = 0
    """Messages heard in a language no voice speaks: in the message log, not played."""
    failed: int = 0
    """Frames, phrases or messages a stage failed on unexpectedly: logged and skipped."""
    log_failures: int = 0
    """Message log entries that could not be written (the message itself went on)."""


class RenderError(Exception):
    """A later phrase of a message could not be rendered (the cause is chained): the message
    is cut short there, while an error of the speaker itself still ends the speaker thread."""


def _ahead(pieces: Iterator[np.ndarray]) -> Generator[np.ndarray, None, None]:
    """``pieces``, each rendered in a thread of its own while the one before it plays: the next
    is started once the player takes one, so no more than one waits (a long message does not
    sit in memory whole).  An error rendering one is raised where that piece is taken; closing
    the generator lets the thread go."""
    handoff: queue.Queue = queue.Queue(maxsize=1)
    taken = threading.Semaphore(0)
    done, closed = object(), threading.Event()

    def render() -> None:
        try:
            for piece in pieces:
                handoff.put(piece)
                while not taken.acquire(timeout=POLL):
                    if closed.is_set():
                        return
        except Exception as e:  # handed to the player, which logs it
            handoff.put(e)
            return
        handoff.put(done)

    threading.Thread(target=render, name="render", daemon=True).start()
    try:
        while (item := handoff.get()) is not done:
            taken.release()
            if isinstance(item, Exception):
                raise RenderError(f"{type(item).__name__}: {item}") from item
            yield item
    finally:
        closed.set()


@dataclass
class Sent:
    """What the sender put on the link, for the latency benchmark's timeline."""

    message: Message
    sequence: int
    times: dict[str, float]
    """``time.monotonic()`` as each stage ended: ``started`` (the phrase taken from the queue),
    the sender's stages (``Transmission.times``), ``sent`` (the last frame handed to the link)."""


@dataclass
class Spoken:
    """What the speaker played, for the loopback tool and the latency benchmark."""

    message: Message
    sender: int
    sequence: int
    arrived_at: float
    """``time.monotonic()`` when the frame that completed the message was read off the link."""
    heard_at: float
    """``time.monotonic()`` when the message was decoded."""
    started_at: float = 0.0
    """``time.monotonic()`` when its first sample went to the speaker."""
    finished_at: float | None = None
    """``time.monotonic()`` when the speaker finished it (None while playing, or if it failed)."""


def languages(message: Message) -> dict[str, str]:
    """The message log's language fields of ``message``, where it has them."""
    fields = {"language": message.language, "source_language": message.source_language}
    return {k: v for k, v in fields.items() if v}


def open_source(name: str):
    """The microphone: ``wav:PATH`` plays a recording, anything else names a capture device."""
    if name.startswith("wav:"):
        return WavSource(name[4:])
    from ..audio.devices import Capture

    return Capture(name)


def open_sink(name: str, rate: int):
    """The speaker: ``wav:PATH`` writes a wav file, anything else names a playback device."""
    if name.startswith("wav:"):
        return WavSink(name[4:], rate)
    from ..audio.devices import Playback

    return Playback(name)


class Station:
    """Runs until ``stop`` is set (or SIGTERM); ``run`` returns the exit status."""

    def __init__(self, config: Config, engines: Engines | None = None, config_path: str | Path | None = None) -> None:
        self.config = config
        self.config_path = config_path
        self.engines = engines or Engines(config)
        self.stats = StationStats()
        self.stop = threading.Event()
        self.transmitting = threading.Event()
        """Set from the key going down until the last phrase of the transmission is sent."""
        self.last_heard = 0.0
        self.phrases: queue.Queue[Phrase | None] = queue.Queue()
        self.messages: queue.Queue[tuple[Message, int, int, float, float] | None] = queue.Queue()
        """Decoded messages for the speaker: the message, its sender and sequence number, when
        it arrived and when it was decoded."""
        self.spoken: deque[Spoken] = deque(maxlen=KEPT)
        """The latest messages spoken, each with its timeline."""
        self.sent: deque[Sent] = deque(maxlen=KEPT)
        """The latest messages sent, for the latency benchmark's timeline."""
        self.source = None
        """The microphone once ``run`` opened it."""
        self.notifier = Notifier()
        self.log = MessageLog(config.daemon.message_log or default_path())
        self.ready = threading.Event()
        """Set once the link is open and every thread runs (what READY=1 tells systemd)."""
        self.failure: str | None = None
        """The thread that died, once one has: the station then stops and exits with 1."""
        self.sender: Sender | None = None
        self.receiver: Receiver | None = None

    def run(self, signals: SignalEvents | None = None) -> int:
        """Load the models, open the link and the audio, tell systemd we are ready, and serve."""
        config = self.config
        self.notifier.status("loading models")
        receiver = self.receiver = Receiver(config, self.engines, persistent=True)
        sender = self.sender = Sender(config, self.engines) if config.ptt.source != "none" else None
        # Load every model now: READY=1 promises a station that answers at once.
        loaded = [self.engines.synthesizer, self.engines.word_model]
        if sender is not None:
            loaded.append(self.engines.transcriber)
        link = open_link(config.link)
        try:
            return self._serve(link, receiver, signals)
        finally:
            link.close()

    def _serve(self, link: Link, receiver: Receiver, signals: SignalEvents | None) -> int:
        sink = open_sink(self.config.audio.output, self.engines.synthesizer.rate)
        source = self.source = open_source(self.config.audio.input) if self.sender is not None else None
        ptt = open_key(self.config.ptt, source) if source is not None else None
        threads = [self._thread("listener", self._listen, link, receiver),
                   self._thread("speaker", self._speak, receiver, sink)]
        if self.sender is not None:
            threads.append(self._thread("sender", self._send, link))
        for t in threads:
            t.start()
        self.notifier.ready(f"listening on {describe(self.config.link)}"
                            + ("" if self.sender else "; transmit off ([ptt] source = none)"))
        log.info("station %d ready: %s", self.config.link.station_id, describe(self.config.link))
        self.ready.set()
        try:
            self._main_loop(source, ptt, signals)
        finally:
            self.notifier.stopping()
            self._shut_down(threads, source, ptt, sink)
        if self.failure is not None:
            log.error("exiting with status 1: the %s thread failed", self.failure)
            return 1
        return 0

    def _thread(self, name: str, target: Callable, *args) -> threading.Thread:
        @functools.wraps(target)
        def supervised() -> None:
            try:
                target(*args)
            except BaseException:
                log.exception("the %s thread failed; stopping the station so that it is restarted", name)
                self.failure = name
                self.stop.set()

        return threading.Thread(target=supervised, name=name, daemon=True)

    def _logged(self, direction: str, sender: int, message: Message, bits: int, **extra) -> None:
        """The message log entry of a message; one that cannot be written costs the entry,
        never the message."""
        try:
            self.log.append(direction, sender, message.text, bits, message.seconds, **extra)
        except TelephraseError as e:
            self.stats.log_failures += 1
            log.error("message not logged (%s): %s from station %d: %r", e, direction, sender, message.text)

    def _main_loop(self, source, ptt, signals: SignalEvents | None) -> None:
        d = self.config.daemon
        cutter = PhraseCutter(d.phrase_pause, d.max_phrase, d.long_phrase, d.short_pause)
        preroll: deque[np.ndarray] = deque()
        keyed = False
        while not self.stop.is_set():
            if self.failure is not None:
                break
            self.notifier.kick()
            if signals is not None and signals.stop.is_set():
                log.info("stopping: finishing the messages in flight")
                break
            if signals is not None and signals.reload.is_set():
                signals.reload.clear()
                self._reload()
            if source is None:
                self.stop.wait(POLL * 4)
                continue
            block = source.read()
            pressed = ptt.pressed(block) if ptt is not None else False
            if pressed and not keyed:
                keyed = True
                cutter.pitch = self._pitch_stream()
                self.transmitting.set()
                self.notifier.status("transmitting")
                log.info("key down")
                if preroll:
                    for phrase in cutter.feed(np.concatenate(preroll)):
                        self.phrases.put(phrase)
                    preroll.clear()
            if block is not None and not keyed:
                preroll.append(block)
                while sum(map(len, preroll)) - len(preroll[0]) >= PREROLL * 16000:
                    preroll.popleft()
            if keyed and block is not None:
                for phrase in cutter.feed(block):
                    self.phrases.put(phrase)
            if keyed and not pressed:
                keyed = False
                rest = cutter.flush()
                if rest is not None:
                    self.phrases.put(rest)
                self.phrases.put(_END)
                log.info("key up")
        if keyed:
            rest = cutter.flush()
            if rest is not None:
                self.phrases.put(rest)
            self.phrases.put(_END)

    def _pitch_stream(self) -> PitchStream | None:
        """What tracks each phrase's pitch while it is captured, where the sender needs one
        and its tracker is a model (the DSP tracker runs on the phrase once it is cut)."""
        sender = self.sender
        if sender is None or sender.pitch_tracker is None or self.engines.pitch_model is None:
            return None
        return PitchStream(self.engines.pitch_model)

    def _reload(self) -> None:
        """Re-read the config file; settings that need a restart are logged as such."""
        if self.config_path is None:
            log.info("SIGHUP: no config file to reload")
            return
        self.notifier.reloading()
        try:
            self._apply(load_config(self.config_path))
        except (TelephraseError, OSError, ValueError) as e:
            log.error("SIGHUP: keeping the running configuration: %s", e)
        else:
            log.info("SIGHUP: configuration reloaded")
        self.notifier.ready("reloaded")

    def _apply(self, new: Config) -> None:
        """Take ``new`` for what can change while running; every object is built before any
        is swapped in, so a key that does not load leaves everything as it was."""
        old = self.config
        changed = [name for name in ("models", "stt", "tts", "link", "audio", "ptt")
                   if getattr(new, name) != getattr(old, name)]
        sender = None
        if self.sender is not None and (new.auth != old.auth or new.codec != old.codec):
            sender = Sender(new, self.engines)
            sender.sequence = self.sender.sequence
            sender.history = self.sender.history
        auth = message_auth(new.auth, persistent=True) if self.receiver is not None and new.auth != old.auth else None
        if changed:
            log.warning("SIGHUP: [%s] changed; restart the service to apply", "], [".join(changed))
        if sender is not None:
            self.sender = sender
        if self.receiver is not None and new.auth != old.auth:
            self.receiver.config = new
            self.receiver.auth = auth
            log.info("SIGHUP: [auth] applied (%s)", "key " + new.auth.key_file if auth else "no key")
        self.config = new

    def _channel_free(self) -> bool:
        return not self.config.daemon.half_duplex or time.monotonic() - self.last_heard > self.config.daemon.busy_hold

    def _send(self, link: Link) -> None:
        context = TransmissionContext()
        while True:
            phrase = self.phrases.get()
            if phrase is _END:
                context = TransmissionContext()
                if self.phrases.empty():
                    self.transmitting.clear()
                    self.notifier.status("idle")
                if self.stop.is_set() and self.phrases.empty():
                    return
                continue
            self.transmitting.set()
            sequence, started = self.sender.sequence, time.monotonic()
            try:
                sent = self.sender.transmit(phrase.audio, context, phrase.track)
            except AudioError as e:
                self.stats.dropped_phrases += 1
                log.info("nothing sent: %s", e)
                continue
            except Exception:
                self.stats.failed += 1
                log.exception("a phrase could not be sent")
                continue
            deadline = time.monotonic() + self.config.daemon.busy_timeout
            while not self._channel_free() and time.monotonic() < deadline:
                time.sleep(POLL)
            for frame in sent.frames:
                link.send(frame)
            self.sent.append(Sent(sent.message, sequence, {"started": started, **sent.times, "sent": time.monotonic()}))
            self.stats.sent += 1
            release_memory()
            self._logged("tx", self.config.link.station_id, sent.message, 8 * len(sent.payload),
                         onair_bytes=sent.onair_bytes, **languages(sent.message))

    def _listen(self, link: Link, receiver: Receiver) -> None:
        while not self.stop.is_set():
            frame = link.receive(timeout=0.2)
            if frame is None:
                receiver.drops.flush()
                continue
            arrived = self.last_heard = time.monotonic()
            try:
                message = receiver.accept(frame)
            except Exception as e:
                self.stats.failed += 1
                receiver.drops.drop("frames failed", logging.ERROR,
                                    f"dropped a frame of {len(frame)} bytes that failed ({type(e).__name__}: {e})")
                log.debug("the frame that failed", exc_info=True)
                continue
            if message is None:
                continue
            sender, sequence = (receiver.last.sender, receiver.last.sequence) if receiver.last else (0, 0)
            self.stats.received += 1
            extra = languages(message)
            if not self.engines.can_speak(message.language):
                extra["spoken"] = False
            self._logged("rx", sender, message, 8 * len(receiver.last.payload) if receiver.last else 0, **extra)
            self.messages.put((message, sender, sequence, arrived, time.monotonic()))

    def _speak(self, receiver: Receiver, sink) -> None:
        while True:
            item = self.messages.get()
            if item is _END:
                return
            message, sender, sequence, arrived, heard = item
            while self.config.daemon.half_duplex and self.transmitting.is_set() and not self.stop.is_set():
                time.sleep(POLL)
            try:
                pieces = receiver.speak_pieces(message)
                if pieces is None:
                    self.stats.text_only += 1
                    continue
                pieces = _ahead(pieces)
                first = next(pieces, np.zeros(0, dtype=np.float32))
            except Exception:
                self.stats.failed += 1
                log.exception("could not synthesize a message from station %d; it is in the message log", sender)
                continue
            spoken = Spoken(message, sender, sequence, arrived, heard, time.monotonic())
            self.spoken.append(spoken)
            try:
                for piece in itertools.chain([first], pieces):
                    if sink.play(piece, self.engines.synthesizer.rate) is False:
                        break
            except TelephraseError as e:
                log.error("could not play a message from station %d (%s); it is in the message log", sender, e)
                continue
            except RenderError:
                self.stats.failed += 1
                log.exception("could not synthesize the rest of a message from station %d; it is in the message "
                              "log", sender)
                continue
            finally:
                pieces.close()
            spoken.finished_at = time.monotonic()
            self.stats.spoken += 1
            release_memory()

    def _shut_down(self, threads: list[threading.Thread], source, ptt, sink) -> None:
        """Send what was said, speak what was heard, then close the devices; the watchdog is
        fed all along, as recognising the last phrases can take a while."""
        self.stop.set()
        if source is not None:
            source.close()
        if ptt is not None:
            ptt.close()
        listener, speaker, *rest = threads
        self._join(listener)
        self.phrases.put(_END)
        for t in rest:
            self._join(t)
        self.messages.put(_END)
        self._join(speaker)
        sink.close()
        log.info("stopped: %d sent, %d received, %d spoken", self.stats.sent, self.stats.received, self.stats.spoken)

    def _join(self, thread: threading.Thread) -> None:
        while thread.is_alive():
            self.notifier.kick()
            thread.join(timeout=POLL * 4)

