"""The two ends of a telephrase link, each a chain of the stages in this package.

Sender:   audio → transcribe → message → payload → frames
Receiver: frames → reassemble → payload → message → synthesize → audio

Models are loaded once by ``Engines`` and shared: the loopback tool, the benchmark and the tests
all run the same objects the daemon runs.
"""

from __future__ import annotations

import collections
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from functools import cached_property

import numpy as np

from .audio.files import STT_RATE, resample
from .codec.bounds import BoundError
from .codec.message import Message, message_from_transcript
from .codec.payload import Carry, ContextError, TextCoding, decode_carried, encode_carried
from .codec.lmweights import load_text_model
from .codec.history import SEQUENCES, MessageHistory
from .codec.neuraltext import NeuralTextModel
from .codec.textcoder import WORD, WordModel, load_model_files
from .config import AuthConfig, Config, LinkConfig, validated
from .droplog import DropLog
from .errors import AudioError, ConfigError, FrameError, ModelError
from .link.auth import AuthError, CounterStore, MessageAuth, ReplayStore, load_key
from .link.ax25 import parse_address, station_id_of
from .link.framing import FEC_CHOICES, FEC_LEVELS, Delivered, FrameCoding, Reassembler, decode_frame, fragment
from .registry import Registry
from .speech.languages import describe
from .speech.pitch import PitchTrack, track_pitch
from .speech.pitchmodel import PitchModel
from .speech.prosody import word_prosody
from .speech.synthesize import Synthesizer, Utterance, WordTarget
from .speech.transcribe import Transcriber, Transcript
from .speech.voices import VoiceBook, registry_voice

log = logging.getLogger(__name__)

SPEECH = 0
"""Frame message type of a speech payload."""
MIN_SECONDS = 0.1
"""Shorter input cannot hold a word; it is refused before the recogniser sees it."""


class Engines:
    """The loaded models, created on first use so that a receiver never loads a recogniser."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.registry = Registry(config.models)
        self._other_voice: Synthesizer | None = None
        self._word_models: dict[str, WordModel | None] = {}
        self._neural_missing: str | None = None

    @cached_property
    def transcriber(self) -> Transcriber:
        return Transcriber(self.config.stt, self.registry)

    def derived(self, config: Config) -> Engines:
        """The models loaded here, under another configuration of the same models (other
        languages, translation, voices): for benchmarks and tests that compare settings."""
        other = Engines(config)
        if config.stt.model != self.config.stt.model or config.tts.voice != self.config.tts.voice:
            raise ValueError("derived engines share this one's models; load other models with Engines(config)")
        other.transcriber = self.transcriber.with_config(config.stt)
        other.synthesizer = self.synthesizer
        if "neural_text" in self.__dict__ and config.codec.neural_model == self.config.codec.neural_model:
            other.neural_text = self.neural_text
        return other

    @cached_property
    def synthesizer(self) -> Synthesizer:
        """The default voice; every received message is played at its sample rate."""
        return Synthesizer(self.config.tts, self.registry)

    @cached_property
    def voices(self) -> VoiceBook:
        directory = self.config.tts.voices_dir
        return VoiceBook(registry_voice(self.registry, self.config.tts.voice), Path(directory) if directory else None)

    def can_speak(self, language: str) -> bool:
        return self.config.tts.speak_unknown_languages or self.voices.for_language(language) is not None

    def synthesizer_for(self, language: str) -> Synthesizer | None:
        """The voice for a message in ``language``, loaded on first use (the last other
        voice stays loaded); None when no voice speaks it and the default is not to."""
        voice = self.voices.for_language(language)
        if voice is None:
            return self.synthesizer if self.config.tts.speak_unknown_languages else None
        if voice == self.synthesizer.voice_info:
            return self.synthesizer
        if self._other_voice is None or self._other_voice.voice_info != voice:
            self._other_voice = None  # one voice's memory at a time
            self._other_voice = Synthesizer(self.config.tts, self.registry, voice)
        return self._other_voice

    @cached_property
    def pitch_tracker(self) -> Callable[[np.ndarray], PitchTrack]:
        """The sender's F0 tracker for 16 kHz speech, as ``[codec] pitch`` names it."""
        return track_pitch if self.pitch_model is None else self.pitch_model.track

    @cached_property
    def pitch_model(self) -> PitchModel | None:
        """The pitch tracker's model (None for the DSP tracker, ``yin``), which a station also
        runs on each phrase while it is captured (``PitchStream``)."""
        name = self.config.codec.pitch
        if name == "yin":
            return None
        entry = self.registry.entry(name)
        if entry.role != "pitch":
            raise ConfigError(f"codec.pitch: model '{name}' is a {entry.role} model, not a pitch tracker "
                              f"(choose yin or one of: {', '.join(self.registry.names('pitch'))})")
        model = self.registry.resolve(name)
        return PitchModel(model.file(entry.files[0].path), threads=self.config.stt.threads)

    @cached_property
    def word_model(self) -> WordModel:
        """The configured text model: English, and every language without its own."""
        return self._load_word_model(self.config.codec.language_model)

    def word_model_for(self, language: str) -> WordModel | None:
        """The registry's text model for ``language``, or None where it has none; looked up
        and verified once per language, not with every message."""
        if language not in self._word_models:
            name = self.registry.for_language("text-lm", language) if language else None
            self._word_models[language] = self._load_word_model(name) if name else None
        return self._word_models[language]

    @cached_property
    def neural_text(self) -> NeuralTextModel:
        """The neural text model (``[codec] neural_model``), with its integer weights."""
        return load_text_model(self.registry, self.config.codec.neural_model)

    def neural_text_if_installed(self) -> NeuralTextModel | None:
        """The neural text model for a receiver, or None (said once) where it cannot load."""
        if self._neural_missing is None:
            try:
                return self.neural_text
            except ModelError as e:
                self._neural_missing = str(e)
                log.warning("format 5 and 6 messages cannot be decoded here: %s", e)
        return None

    def _load_word_model(self, name: str) -> WordModel:
        model = self.registry.resolve(name)
        return load_model_files([str(model.file(f.path)) for f in model.entry.files])


@dataclass
class TransmissionContext:
    """What the phrases of one transmission share.

    Only the speaker's word pitches: the text coder's context is not carried, because a
    phrase would then be undecodable whenever an earlier one was lost, and carrying it saved
    0.3 % of the text bits with phrases of ten words (1.7 % with six) on the corpus."""

    pitches: list[float] = field(default_factory=list)
    """Voiced word pitches of the phrases sent so far, semitones re 100 Hz."""


@dataclass(frozen=True)
class Transmission:
    transcript: Transcript
    message: Message
    payload: bytes
    frames: tuple[bytes, ...]
    times: dict[str, float] = field(default_factory=dict)
    """``time.monotonic()`` as each stage ended (``recognised``, ``prosody``, ``encoded``):
    the latency benchmark's timeline of where a message's time went."""

    @property
    def onair_bytes(self) -> int:
        return sum(map(len, self.frames))


def fec_parity(link: LinkConfig) -> int:
    """The FEC a link's frames get.  ``auto`` in AX.25 is none: a TNC passes on only frames
    whose FCS checks, so Reed-Solomon bytes never get to repair anything behind one, and the
    shorter frames are delivered more often (README, "With Dire Wolf")."""
    if link.ax25 and link.fec == "auto":
        return FEC_LEVELS["none"]
    return FEC_CHOICES[link.fec]


def frame_coding(config: Config) -> FrameCoding:
    link = validated(config).link
    sender = station_id_of(parse_address(link.callsign)) if link.station_id == -1 else link.station_id
    return FrameCoding(mtu=link.mtu, parity=fec_parity(link), erasure=link.erasure, sender=sender)


def message_auth(config: AuthConfig, persistent: bool = False) -> MessageAuth | None:
    """The key's sealer and opener; ``persistent`` (a station) keeps its replay windows in the
    replay file, file mode in memory only."""
    if not config.key_file:
        return None
    replay = ReplayStore(_state_file(config.replay_file, "replay")) if persistent else None
    return MessageAuth(load_key(config.key_file), tag_bytes=config.tag_bytes, encrypt=config.encrypt,
                       window=config.window, replay=replay)


def state_dir() -> Path:
    """Where a station keeps what must survive restarts: systemd's ``$STATE_DIRECTORY``, else
    ``$XDG_STATE_HOME/telephrase``, else ``~/.local/state/telephrase``."""
    systemd = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    if systemd:
        return Path(systemd)
    xdg = os.environ.get("XDG_STATE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "state") / "telephrase"


def _state_file(configured: str, name: str) -> Path:
    """``configured``, or ``name`` in the state directory, whose folder is created."""
    path = Path(configured) if configured else state_dir() / name
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create {path.parent} for the {name} file ({e.strerror}); "
                          f"set [auth] {name}_file") from None
    return path


def text_coding(config: Config) -> TextCoding:
    try:
        return TextCoding[config.codec.text.upper()]
    except KeyError:
        raise ConfigError(f"codec.text: unknown text coding '{config.codec.text}' "
                          "(choose lm, neural, brotli or utf8)") from None


PROSODY_PRESETS = ("off", "minimal", "balanced", "expressive")
WORD_PROSODY_PRESETS = ("balanced", "expressive")


class Sender:
    def __init__(self, config: Config, engines: Engines) -> None:
        if config.codec.prosody not in PROSODY_PRESETS:
            raise ConfigError(f"codec.prosody: unknown preset '{config.codec.prosody}' "
                              f"(choose {', '.join(PROSODY_PRESETS)})")
        self.config = config
        self.transcriber = engines.transcriber
        self.pitch_tracker = engines.pitch_tracker if config.codec.prosody in WORD_PROSODY_PRESETS else None
        self.coding_text = text_coding(config)
        self.engines = engines
        if self.coding_text in (TextCoding.LM, TextCoding.NEURAL):
            engines.word_model  # noqa: B018 (loaded now: a missing model is an error at start, not at the first message)
        if self.coding_text is TextCoding.NEURAL:
            engines.neural_text  # noqa: B018
        self.coding = frame_coding(config)
        self.auth = message_auth(config.auth)
        self.counters = None
        if self.auth is not None:
            self.counters = CounterStore(_state_file(config.auth.counter_file, "counter"))
        self.sequence = 0
        self.history = MessageHistory(config.codec.context_seconds)
        """What this sender sent (its own sender id's messages), for the text model's context."""

    def context(self) -> tuple[str, ...]:
        """The previous messages the next one will be coded after (empty: alone)."""
        if self.coding_text is not TextCoding.NEURAL or not self.config.codec.context_messages:
            return ()
        for count in range(self.config.codec.context_messages, 0, -1):
            texts = self.history.before(self.coding.sender, self.sequence, count)
            if texts is not None:
                return tuple(texts)
        return ()

    def carry(self) -> Carry | None:
        """Where the next message's prosody models start, if it is coded after the last one."""
        return self.history.carry(self.coding.sender, self.sequence)

    def transmit(self, audio: np.ndarray, context: TransmissionContext | None = None,
                 track: PitchTrack | None = None) -> Transmission:
        """Turn one utterance into frames; raises ``AudioError`` when there is nothing to send.

        ``context`` joins the phrases of one transmission (key down to key up): each phrase's
        voice profile (the median pitch) is taken over all the words sent so far, so a phrase
        of three words does not move the far end's register by its own noisy median.
        ``track`` is the audio's pitch track where it was computed during capture."""
        seconds = len(audio) / STT_RATE
        if seconds < MIN_SECONDS:
            raise AudioError(f"audio is {seconds:.2f} s long; at least {MIN_SECONDS} s is needed to hold a word")
        transcript = self.transcriber.transcribe(audio)
        times = {"recognised": time.monotonic()}
        if not transcript.words:
            raise AudioError(f"no speech found in {seconds:.1f} s of audio; nothing to send")
        preset = self.config.codec.prosody
        prosody = word_prosody(audio, transcript.words, track=track if track is not None else self.pitch_tracker(audio)) \
            if preset in WORD_PROSODY_PRESETS else None
        times["prosody"] = time.monotonic()
        message = message_from_transcript(transcript, self.config.codec.phrase_pause, prosody,
                                          context.pitches if context is not None else None)
        words, own = None, False
        if self.coding_text in (TextCoding.LM, TextCoding.NEURAL):
            own_words = self.engines.word_model_for(message.language)
            words, own = (own_words, True) if own_words is not None else (self.engines.word_model, False)
        payload, carry = encode_carried(
            message, self.coding_text, preset != "off", words, word_prosody=preset in WORD_PROSODY_PRESETS,
            word_durations=preset == "expressive", own_model=own,
            neural=self.engines.neural_text if self.coding_text is TextCoding.NEURAL else None,
            context=self.context(), carry=self.carry())
        times["encoded"] = time.monotonic()
        sealed = payload
        if self.auth is not None:
            sealed = self.auth.seal(bytes([SPEECH]), self.counters.next(), payload, sender=self.coding.sender)
        frames = fragment(sealed, self.sequence, self.coding, type=SPEECH, authenticated=self.auth is not None)
        frames = tuple(f.encode(self.coding.parity) for f in frames)
        self.history.add(self.coding.sender, self.sequence, message.coded_text, carry)
        self.sequence = (self.sequence + 1) % SEQUENCES
        if self.coding_text is TextCoding.NEURAL:
            self.engines.neural_text.prepare(self.context())
        log.info("sending %r: %d payload bytes in %d frames", message.text, len(payload), len(frames))
        return Transmission(transcript, message, payload, frames, times)


@dataclass
class ReceiverStats:
    frames: int = 0
    bad_frames: int = 0
    """Frames beyond FEC repair or failing their CRC or header check: dropped, never spoken."""
    bad_payloads: int = 0
    """Complete messages whose payload would not decode: dropped, never spoken."""
    rejected: int = 0
    """Messages refused by authentication (forged, replayed, wrong key, unauthenticated)."""
    refused: collections.Counter[str] = field(default_factory=collections.Counter)
    """Payloads over a bound (``bounds``), by the bound: also counted in ``bad_payloads``."""
    messages: int = 0


class Receiver:
    def __init__(self, config: Config, engines: Engines, persistent: bool = False) -> None:
        """``persistent``: a station's receiver, whose replay windows survive restarts."""
        self.config = config
        self.engines = engines
        self.parity = fec_parity(validated(config).link)
        self.stats = ReceiverStats()
        self.reassembler = Reassembler(timeout=config.link.reassembly_timeout)
        self.auth = message_auth(config.auth, persistent)
        self.last: Delivered | None = None
        """The delivery the last message ``accept`` returned came in: its sender and payload."""
        self.drops = DropLog(log)
        self.history = MessageHistory(config.codec.context_seconds)
        """The messages received from each sender, for the format 5 and 6 payloads coded after them."""

    def accept(self, data: bytes) -> Message | None:
        """Take one frame off the link; return a message once enough of its fragments are in."""
        self.stats.frames += 1
        frame = decode_frame(data, self.parity)
        if frame is None:
            self.stats.bad_frames += 1
            self.drops.drop("frames beyond repair", logging.INFO, f"dropped a frame beyond repair ({len(data)} bytes)")
            return None
        delivered = self.reassembler.push(frame)
        if delivered is None:
            return None
        payload = self._authenticate(delivered)
        if payload is None:
            self.stats.rejected += 1
            return None
        built_on: list[int] = []

        def history(count: int) -> tuple[Sequence[str], Carry | None] | None:
            built_on.append(count)
            texts = self.history.before(delivered.sender, delivered.sequence, count)
            return None if texts is None else (texts, self.history.carry(delivered.sender, delivered.sequence))

        try:
            message, carry = decode_carried(payload, self.engines.word_model, self.engines.word_model_for,
                                     self.engines.neural_text_if_installed, history)
        except FrameError as e:
            self.stats.bad_payloads += 1
            if isinstance(e, (BoundError, ContextError)):
                self.stats.refused[e.reason] += 1
            self.drops.drop("messages dropped", logging.WARNING,
                            f"dropped a message from station {delivered.sender}: {e}")
            return None
        self.stats.messages += 1
        self.history.add(delivered.sender, delivered.sequence, message.coded_text, carry)
        if built_on:
            self._prepare_next(delivered, built_on[-1])
        self.last = delivered
        log.info("received %r from station %d", message.text, delivered.sender)
        return message

    def _prepare_next(self, delivered: Delivered, count: int) -> None:
        """A sender that coded this message after ``count`` of its messages will likely code
        the next after as many: have the text model's cache for them ready."""
        texts = self.history.before(delivered.sender, (delivered.sequence + 1) % SEQUENCES, count)
        model = self.engines.neural_text_if_installed()
        if texts and model is not None:
            model.prepare(texts)

    def _authenticate(self, delivered: Delivered) -> bytes | None:
        if delivered.type != SPEECH:
            return self._refuse(f"ignored a message of unknown type {delivered.type} from station {delivered.sender}")
        if not delivered.authenticated:
            if self.auth is not None and self.config.auth.require:
                return self._refuse(f"refused an unauthenticated message from station {delivered.sender}")
            return delivered.payload
        if self.auth is None:
            return self._refuse(f"refused an authenticated message from station {delivered.sender}: "
                                "no key configured ([auth] key_file)")
        try:
            return self.auth.open(bytes([SPEECH]), delivered.sender, delivered.payload)
        except AuthError as e:
            return self._refuse(f"refused a message: {e}")

    def _refuse(self, why: str) -> None:
        self.drops.drop("messages refused", logging.WARNING, why)
        return None

    def _voice(self, message: Message) -> Synthesizer | None:
        """The voice of the message's language; None (and a warning) when no voice speaks it."""
        voice = self.engines.synthesizer_for(message.language)
        if voice is None:
            log.warning("no voice for %s: message from station %d delivered as text only: %r "
                        "(add a Piper voice to %s, or set [tts] speak_unknown_languages)",
                        describe(message.language), self.last.sender if self.last else 0, message.text,
                        self.config.tts.voices_dir)
        return voice

    def speak(self, message: Message) -> np.ndarray | None:
        """The message spoken by the voice of its language, at the default voice's rate;
        None when no voice speaks its language (it is then delivered as text only)."""
        voice = self._voice(message)
        if voice is None:
            return None
        return resample(voice.speak(utterances(message)), voice.rate, self.engines.synthesizer.rate)

    def speak_pieces(self, message: Message) -> Iterator[np.ndarray] | None:
        """``speak`` phrase by phrase (``Synthesizer.pieces``), rendered as they are taken: a
        speaker plays the first while the next renders.  None when no voice speaks it."""
        voice = self._voice(message)
        if voice is None:
            return None
        rate = self.engines.synthesizer.rate
        return (resample(piece, voice.rate, rate) for piece in voice.pieces(utterances(message)))


def utterances(message: Message) -> list[Utterance]:
    """The synthesizer's view of a message: phrases, and each phrase's word targets when
    the message carries one mark per word."""
    counts = [len(WORD.findall(p.text)) for p in message.phrases]
    marks = message.words if len(message.words) == sum(counts) else ()
    out, start = [], 0
    for phrase, count in zip(message.phrases, counts):
        words = tuple(WordTarget(m.duration, m.f0) for m in marks[start : start + count])
        out.append(Utterance(phrase.text, phrase.seconds or None, phrase.pause, words, message.f0_median))
        start += count
    return out


@dataclass(frozen=True)
class RoundTrip:
    transmission: Transmission
    received: tuple[Message, ...]
    audio: np.ndarray
    rate: int
    stt_seconds: float
    tts_seconds: float
    spoken: bool = True
    """False when a message was delivered as text only (no voice for its language)."""

    def report(self) -> dict:
        t = self.transmission
        seconds = t.transcript.seconds
        return {
            "transcript": t.message.text,
            "received": " ".join(m.text for m in self.received),
            "delivered_exactly": [m.text for m in self.received] == [t.message.text],
            "language": t.transcript.source_language or t.transcript.language,
            "language_probability": round(t.transcript.language_probability, 3),
            "translated": bool(t.transcript.source_language),
            "received_language": self.received[0].language if self.received else None,
            "received_source_language": self.received[0].source_language if self.received else None,
            "spoken": self.spoken,
            "seconds": round(seconds, 3),
            "output_seconds": round(len(self.audio) / self.rate, 3),
            "words": len(t.transcript.words),
            "payload_bytes": len(t.payload),
            "onair_bytes": t.onair_bytes,
            "frames": len(t.frames),
            "payload_bps": round(8 * len(t.payload) / seconds, 2),
            "onair_bps": round(8 * t.onair_bytes / seconds, 2),
            "stt_seconds": round(self.stt_seconds, 3),
            "tts_seconds": round(self.tts_seconds, 3),
        }


def round_trip(engines: Engines, audio: np.ndarray, link, pair: tuple[Sender, Receiver] | None = None) -> RoundTrip:
    """Send ``audio`` through ``link`` and speak what arrives, in one process; ``pair``: the
    sender and receiver of a conversation (their histories carry the text model's context),
    else new ones."""
    sender, receiver = pair or (Sender(engines.config, engines), Receiver(engines.config, engines))
    transmission = sender.transmit(audio)
    for frame in transmission.frames:
        link.send(frame)
    received = []
    while (data := link.receive()) is not None:
        if (message := receiver.accept(data)) is not None:
            received.append(message)
    synthesizer = engines.synthesizer
    started = time.perf_counter()
    parts = [receiver.speak(m) for m in received]
    tts_seconds = time.perf_counter() - started
    spoken = [p for p in parts if p is not None]
    audio_out = np.concatenate(spoken) if spoken else np.zeros(0, dtype=np.float32)
    return RoundTrip(transmission, tuple(received), audio_out, synthesizer.rate,
                     transmission.transcript.compute_seconds, tts_seconds, len(spoken) == len(parts))
