"""Configuration: one typed, frozen dataclass tree loaded from TOML.

Every setting has a default that works, so an empty file (or none) is a valid configuration.
Unknown keys and wrongly typed values are errors that name the key, because a silently ignored
typo in a radio box's config is found only in the field.
"""

from __future__ import annotations

import dataclasses
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # JetPack 6 ships Python 3.10
    import tomli as tomllib

from .errors import ConfigError
from .paths import check_input


@dataclass(frozen=True)
class ModelsConfig:
    """Where the model registry and the cache of assembled models live."""

    registry: str = ""
    """Path to ``registry.toml``; empty means the one installed with telephrase."""
    cache_dir: str = ""
    """Where split models are reassembled; empty means ``$CACHE_DIRECTORY`` (systemd),
    ``$TELEPHRASE_CACHE_DIR`` or ``~/.cache/telephrase``."""


@dataclass(frozen=True)
class SttConfig:
    """Speech recognition (faster-whisper / CTranslate2)."""

    model: str = "whisper-base"
    """``whisper-base`` (multilingual) or ``whisper-tiny.en``: English only, but it recognises in
    half the time on a CPU for about one point more word errors (see the README's figures)."""
    device: str = "auto"
    """``auto`` uses CUDA when CTranslate2 sees a GPU, else the CPU; or ``cpu`` / ``cuda``."""
    compute_type: str = "int8"
    beam_size: int = 5
    threads: int = 0
    """CPU threads; 0 means all cores."""
    language: str = ""
    """Spoken language code (``en``); empty means detect it among ``languages``."""
    languages: str = "en"
    """Comma-separated languages detection may choose from (``en,de``); empty: any of
    Whisper's.  Detection on a clip of a few seconds sometimes picks a language nobody spoke,
    and text in it is nothing the far end's voice can say."""
    vad: bool = True
    """Skip non-speech with Silero VAD before decoding, so silence is not 'transcribed'."""
    translate: bool = False
    """Send English: speech in any other language is translated by Whisper (its translate
    task) and the message records the language that was spoken, so a receiver with only an
    English voice understands every sender.  With ``languages`` left at ``en``, detection
    then chooses among all of Whisper's languages."""


@dataclass(frozen=True)
class CodecConfig:
    """How a message becomes payload bytes."""

    text: str = "lm"
    """``lm`` (the word language model with arithmetic coding, payload format 4), ``neural``
    (English text coded with the neural language model, payload format 6, about a fifth fewer
    bits; other languages as ``lm``), or the format 1 baselines ``brotli`` and ``utf8``."""
    language_model: str = "en-words"
    """Registry name of the text coder's word model."""
    neural_model: str = "smollm2-135m"
    """Registry name of the neural text model (role ``text-nn``), for ``text = "neural"`` and
    for receiving format 5 and 6 payloads."""
    context_messages: int = 0
    """With ``text = "neural"``: how many of this station's previous messages (up to 4) the
    text model is fed before a message, and whose prosody models the message's start from
    (where the last one's ended), so a conversation costs fewer bits.  A receiver that
    missed one of them cannot decode the message and says so (0: every message alone)."""
    context_seconds: float = 300.0
    """Only messages sent (and, at the receiver, received) this recently are context."""
    prosody: str = "minimal"
    """What is sent besides the text: ``off`` nothing; ``minimal`` each phrase's pause and
    duration, so the receiver keeps the sender's pace; ``balanced`` also the speaker's median
    pitch and each phrase's pitch contour with every word's accent off it, so it follows their
    register and intonation; ``expressive`` every word's pitch level and duration instead, for
    their rhythm."""
    phrase_pause: float = 0.25
    """A gap between words at least this long (seconds) starts a new phrase."""
    pitch: str = "crepe-tiny"
    """The sender's pitch tracker for word prosody: a registry model of role ``pitch`` (the
    CREPE export ``crepe-tiny``), or ``yin`` for the DSP tracker, which needs no model."""


@dataclass(frozen=True)
class TtsConfig:
    """Speech synthesis (Piper via onnxruntime)."""

    voice: str = "piper-joe-medium"
    """The default voice (a registry name): English, and messages that name no language."""
    voices_dir: str = "/var/lib/telephrase/voices"
    """Where other Piper voices (``NAME.onnx`` + ``NAME.onnx.json``) are looked for; a
    message in a language is spoken by a voice of that language found here.  A missing
    folder holds no voices."""
    speak_unknown_languages: bool = False
    """A message in a language no voice speaks is delivered as text (logged, shown by
    ``telephrase monitor``); with this on, the default voice also reads it aloud as well as
    an English voice can."""
    deterministic: bool = True
    """No sampling noise: the same message always gives the same samples."""
    threads: int = 0
    follow_timing: bool = True
    """Stretch each phrase (or, with word prosody, each word) to the sender's duration and
    keep the sender's pauses."""
    follow_pitch: bool = True
    """With word prosody, move each word to the sender's pitch."""
    device: str = "auto"
    """``auto`` uses onnxruntime's CUDA provider when installed, else the CPU."""


@dataclass(frozen=True)
class LinkConfig:
    """Framing and the link the frames travel over."""

    mtu: int = 237
    """Largest frame on air in bytes (LoRa 237, AX.25 256, HF data modems 14-126)."""
    fec: str = "auto"
    """Reed-Solomon strength per frame: auto (8, 16 or 32 check bytes by frame length; none with
    ``ax25``, where the TNC's FCS drops every damaged frame first), none, low (8 check bytes
    per codeword), medium (16), high (32).  The receiver decodes any."""
    erasure: float = 0.0
    """Parity fragments per data fragment, so lost frames can be rebuilt (0 = off)."""
    station_id: int = 1
    """This station's number on the channel (0-65535), sent in every frame; -1 with ``ax25``:
    derived from ``callsign``, the same on every station that knows the callsign."""
    reassembly_timeout: float = 600.0
    """Seconds an incomplete message waits for its missing fragments."""
    transport: str = "udp"
    """What carries the frames in the daemon: ``udp`` (IP modems, satellite terminals, a LAN),
    ``serial`` (a KISS TNC such as Dire Wolf, or a transparent modem) or ``kiss-tcp`` (a TNC's
    KISS TCP port: Dire Wolf's 8001)."""
    udp_bind: str = "0.0.0.0:7373"
    """Local address and port the UDP link listens on (``[addr]:port`` for IPv6)."""
    udp_peer: str = "239.255.73.1:7373"
    """Where UDP frames go: a station's ``host:port``, or an IPv4 multicast group that every
    station on the network joins (the default)."""
    serial_device: str = "/dev/ttyUSB0"
    """Serial device of the modem or TNC; the link reopens it when it comes back."""
    serial_baud: int = 9600
    serial_mode: str = "kiss"
    """``kiss`` (KISS framing: TNCs, Dire Wolf) or ``raw`` (own sync word: modems that pass
    bytes through)."""
    kiss_port: int = 0
    """KISS port (0-15) of a multi-port TNC."""
    kiss_host: str = "127.0.0.1:8001"
    """``host:port`` of the TNC's KISS TCP server, for ``transport = "kiss-tcp"``."""
    ax25: bool = False
    """Put every frame in an AX.25 UI frame from ``callsign``: what TNCs that expect AX.25 need,
    and the station's identification on amateur bands."""
    callsign: str = ""
    """This station's callsign with an optional SSID (``N0CALL-7``); needed with ``ax25``."""
    ax25_destination: str = "TPHRSE"
    """The AX.25 destination telephrase frames are sent to and the only one received."""


@dataclass(frozen=True)
class AuthConfig:
    """Message authentication with a pre-shared key; encryption only where it is legal."""

    key_file: str = ""
    """Key file (``telephrase keygen FILE``, mode 0600); empty means no authentication."""
    encrypt: bool = False
    """Also encipher the payload (ChaCha20-Poly1305).  Not allowed on amateur bands."""
    tag_bytes: int = 8
    """Length of the truncated HMAC-SHA256 tag (4-32); 8 makes a forgery a 2^-64 guess."""
    window: int = 64
    """Replay window: how far out of order a message may arrive and still be accepted once."""
    counter_file: str = ""
    """Where the message counter survives restarts; empty means ``$STATE_DIRECTORY``,
    ``$XDG_STATE_HOME/telephrase`` or ``~/.local/state/telephrase``, file ``counter``."""
    replay_file: str = ""
    """Where the daemon's replay windows survive restarts, so a message recorded off the air
    is refused after a restart too; empty means file ``replay`` beside the counter's default."""
    require: bool = True
    """With a key, refuse messages that are not authenticated."""


@dataclass(frozen=True)
class AudioConfig:
    """Microphone and speaker of the daemon."""

    input: str = ""
    """Capture device: a name (or part of one) or an index from ``telephrase devices``; empty:
    the system default; ``wav:PATH``: a recording played as the microphone (bench, loopback)."""
    output: str = ""
    """Playback device, as ``input``; ``wav:PATH``: write what is played to a wav file."""


@dataclass(frozen=True)
class PttConfig:
    """Push-to-talk: what keys the transmitter."""

    source: str = "none"
    """``none`` (receive only), ``serial`` (a control line of a serial port), ``input`` (a key
    of a Linux input device), ``gpio`` (a GPIO line), ``stdin`` (Enter toggles, for the
    bench), ``vad`` (voice-activated: speech keys it) or ``file`` (pressed while a ``wav:``
    input plays)."""
    device: str = ""
    """The PTT device: serial port, ``/dev/input/eventN`` or ``/dev/gpiochipN`` (``gpiochipN``
    works too; empty: ``/dev/gpiochip0``)."""
    line: str = "cts"
    """Serial control line (``cts``, ``dsr``, ``cd``, ``ri``; ``-cts`` inverts, as in Dire
    Wolf) or GPIO line offset or name."""
    key: int = 0
    """Input device key code (e.g. 57 = space, 59 = F1; ``evtest`` shows them)."""
    active_low: bool = False
    """The line or key reads pressed when low / released (wiring to ground)."""
    debounce: float = 0.02
    """Seconds a new PTT state must hold before it counts (contact bounce)."""
    max_transmit: float = 120.0
    """Longest transmission in seconds; a stuck key is released after it."""


@dataclass(frozen=True)
class DaemonConfig:
    """The long-running station: half-duplex behaviour, streaming and logs."""

    half_duplex: bool = True
    """Received speech waits while this station transmits, and transmission waits while the
    channel is busy."""
    busy_hold: float = 1.5
    """The channel counts as busy for this long (seconds) after the last frame heard."""
    busy_timeout: float = 30.0
    """Longest wait (seconds) for a busy channel before transmitting anyway."""
    phrase_pause: float = 0.6
    """While the key is down, a pause this long (seconds) ends a phrase, which is sent at once."""
    long_phrase: float = 4.0
    """Once a phrase is this long (seconds), a pause of ``short_pause`` ends it too, so the last
    phrase, which the far end waits for after the key is released, stays quick to recognise
    (0: off; each cut costs one more message header on air)."""
    short_pause: float = 0.25
    max_phrase: float = 8.0
    """A phrase without such a pause is cut after this many seconds, at its longest inner
    pause: on the corpus, 20 s let 47 % of the utterances over 8 s end before any of them was
    heard, 8 s only 12 %, for 1.5 points more word errors (phrases recognised apart)."""
    message_log: str = ""
    """JSON-lines log of every message sent and received; empty: ``messages.jsonl`` in
    ``$LOGS_DIRECTORY`` (systemd), ``/var/log/telephrase`` if it exists, or
    ``$XDG_STATE_HOME/telephrase`` (``~/.local/state/telephrase``)."""


@dataclass(frozen=True)
class Config:
    models: ModelsConfig = field(default_factory=ModelsConfig)
    stt: SttConfig = field(default_factory=SttConfig)
    codec: CodecConfig = field(default_factory=CodecConfig)
    tts: TtsConfig = field(default_factory=TtsConfig)
    link: LinkConfig = field(default_factory=LinkConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    ptt: PttConfig = field(default_factory=PttConfig)
    daemon: DaemonConfig = field(default_factory=DaemonConfig)


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in known:
            raise ConfigError(f"{where}: unknown setting '{key}' (known: {', '.join(sorted(known))})")
    values = {}
    for name, value in data.items():
        expected = hints[name]
        key = f"{where}.{name}" if where else name
        if dataclasses.is_dataclass(expected):
            if not isinstance(value, dict):
                raise ConfigError(f"{key}: expected a [{name}] table")
            values[name] = _build(expected, value, key)
            continue
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not expected:
            raise ConfigError(f"{key}: expected {expected.__name__}, got {value!r}")
        values[name] = value
    return cls(**values)


MAX_BEAM = 64
MAX_ERASURE = 4.0
"""Parity fragments per data fragment beyond which a message costs five times its air time:
past that, a lossy link needs a shorter MTU, not more parity."""


def _language_errors(stt: SttConfig) -> list[tuple[str, str]]:
    from .speech.languages import CODES

    known = "Whisper's two- or three-letter codes, e.g. en, de, es, fr, yue"
    errors = []
    if stt.language and stt.language not in CODES:
        errors.append(("stt.language", f"unknown language '{stt.language}' (use {known}, or leave it empty to detect)"))
    unknown = [c.strip() for c in stt.languages.split(",") if c.strip() and c.strip() not in CODES]
    if unknown:
        errors.append(("stt.languages", f"unknown language(s) {', '.join(unknown)} (use {known}, comma-separated)"))
    return errors


def _link_errors(link: LinkConfig) -> list[tuple[str, str]]:
    from .link.framing import FEC_CHOICES, min_mtu
    from .link.rawstream import MAX_FRAME

    errors = []
    if not (0 <= link.station_id <= 0xFFFF or (link.station_id == -1 and link.ax25)):
        errors.append(("link.station_id", f"{link.station_id} is out of range (use 0-65535, or -1 with ax25: "
                       "from the callsign)"))
    if link.ax25:
        from .link.ax25 import parse_address

        for key, value in (("link.callsign", link.callsign), ("link.ax25_destination", link.ax25_destination)):
            try:
                parse_address(value, key)
            except ConfigError as e:
                errors.append((key, str(e).split(": ", 1)[1] + ("" if value else "; ax25 = true needs one")))
    if not 0 <= link.erasure <= MAX_ERASURE:
        errors.append(("link.erasure", f"{link.erasure} is out of range (use 0, none, to {MAX_ERASURE:g}; "
                      "0.5 repairs one lost frame in three)"))
    if link.fec not in FEC_CHOICES:
        errors.append(("link.fec", f"unknown FEC strength '{link.fec}' (choose from {', '.join(FEC_CHOICES)})"))
    elif not min_mtu(FEC_CHOICES[link.fec]) <= link.mtu <= MAX_FRAME:
        errors.append(("link.mtu", f"{link.mtu} bytes is out of range: with fec = {link.fec} a frame needs at least "
                      f"{min_mtu(FEC_CHOICES[link.fec])} bytes (header, CRC and FEC check bytes), at most {MAX_FRAME}"))
    if link.reassembly_timeout <= 0:
        errors.append(("link.reassembly_timeout", f"{link.reassembly_timeout} must be a positive number of seconds"))
    return errors


def problems(config: Config) -> list[tuple[str, str]]:
    """Every out-of-range value in ``config``: its key and what is wrong with it and what to use.

    Checked when a configuration is loaded or overridden, so a bad value stops a command
    before it transcribes anything and a reload keeps the running configuration, instead of
    failing deep in a model or a frame later."""
    stt, tts = config.stt, config.tts
    errors = []
    if not 1 <= stt.beam_size <= MAX_BEAM:
        errors.append(("stt.beam_size", f"{stt.beam_size} is out of range (use 1-{MAX_BEAM}; 5 is the default)"))
    for key, threads in (("stt.threads", stt.threads), ("tts.threads", tts.threads)):
        if threads < 0:
            errors.append((key, f"{threads} is out of range (use 0 for all cores, or a number of threads)"))
    if not 0 <= config.codec.context_messages <= 4:
        errors.append(("codec.context_messages", f"{config.codec.context_messages} is out of range (use 0-4)"))
    for key, seconds in (("codec.phrase_pause", config.codec.phrase_pause),
                         ("codec.context_seconds", config.codec.context_seconds),
                         ("daemon.phrase_pause", config.daemon.phrase_pause)):
        if seconds <= 0:
            errors.append((key, f"{seconds} must be a positive number of seconds"))
    return errors + _language_errors(stt) + _link_errors(config.link)


def validated(config: Config, labels: dict[str, str] | None = None) -> Config:
    """``config``, or a ConfigError listing its problems, each under its key or, where
    ``labels`` has one for the key (a command-line option), that label."""
    errors = problems(config)
    if errors:
        labels = labels or {}
        raise ConfigError("; ".join(f"{labels.get(key, key)}: {text}" for key, text in errors))
    return config


def config_from_dict(data: dict[str, Any]) -> Config:
    return validated(_build(Config, data, ""))


def load_config(path: str | Path | None) -> Config:
    """Read a TOML file; ``None`` gives the defaults."""
    if path is None:
        return Config()
    path = check_input(path, "a TOML configuration file", ConfigError, empty_ok=True)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"config file {path} cannot be read ({e.strerror or e})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(f"config file {path}: not UTF-8 text (byte {e.start}); TOML files are UTF-8") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path}: {e}") from None
    try:
        return config_from_dict(data)
    except ConfigError as e:
        raise ConfigError(f"config file {path}: {e}") from None


def replace(config: Config, labels: dict[str, str] | None = None, **sections: dict[str, Any]) -> Config:
    """Return ``config`` with some settings of some sections changed (used for CLI overrides);
    ``labels`` names where a changed key came from in an error (``--beam-size``)."""
    changed = {name: dataclasses.replace(getattr(config, name), **values) for name, values in sections.items()}
    return validated(dataclasses.replace(config, **changed), labels)
