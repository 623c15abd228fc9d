"""Message authentication, and encryption where it is legal, keyed by a pre-shared key.

On amateur radio bands encryption is forbidden but authentication is allowed, so the two are
separate switches: by default a message goes out readable and carries a tag that only holders of
the key can compute; with ``encrypt`` the payload is also enciphered, for links where that is
legal.  Protection is per message, not per frame: one counter and one tag for the whole payload,
because on a 30-50 bit/s link every byte is 0.16-0.27 s of air time and a message is only a few
frames.  The frame layer's CRC still catches noise; this layer catches forgery and replay.

Envelope format version 1.  ``header`` (the frame layer's sender id, message type, ...) is
authenticated but not carried here, since the frame layer sends it anyway.

    offset  size  field
    0       C     counter: unsigned LEB128 varint, minimal encoding, 0 .. 2**64-1 (C = 1..10)
    C       P     the payload, or with ``encrypt`` its ChaCha20 ciphertext (same length P)
    C+P     T     tag: HMAC-SHA256 truncated to ``tag_bytes`` (default 8), or with ``encrypt``
                  the full 16-byte Poly1305 tag

Counters are a varint rather than a fixed 4 bytes because they start at 0 and grow only with
traffic: 1 byte for the first 128 messages, 2 up to 16,384, 3 up to 2,097,152 (a message a
minute, day and night, for 4 years), where a fixed field costs 4 bytes from the first message.
A non-minimal encoding is rejected as malformed, so each counter has exactly one envelope.

Keys.  Two subkeys come from the pre-shared key by HKDF-SHA256 (RFC 5869, no salt), one per
purpose, so that the MAC key is never also a cipher key:

    K_mac = HKDF(key, info=b"telephrase v1 hmac-sha256", 32 bytes)
    K_enc = HKDF(key, info=b"telephrase v1 chacha20-poly1305", 32 bytes)

Authentication only: ``tag = HMAC-SHA256(K_mac, sender || counter || len(header) || header ||
payload)[:tag_bytes]``, where sender is 4 bytes big-endian, counter 8 bytes big-endian and
len(header) a varint (so header and payload bytes cannot trade places).  The sender is covered
so a message cannot be credited to another sender's replay window.  8 bytes by default: a forger
has odds of 2**-64 per try, and every try is a transmission, at least 1.3 s of air time for the
tag alone at 50 bit/s, so a transmitter keying day and night for a century makes about 2**31
tries.  4 bytes (2**-32 per try, decades of continuous transmission per expected success) is
the floor, for links where every byte hurts; 32 bytes is the whole HMAC.

Encryption: ChaCha20-Poly1305 (RFC 8439) under K_enc with nonce ``sender || counter`` (the same
12 bytes as above) and ``header`` as associated data.  A nonce must never repeat under one key,
so every station sharing a key needs its own sender id and must never reuse a counter (which is
what ``CounterStore`` is for); a repeated nonce would reveal the XOR of two plaintexts and let
anyone forge tags.  Poly1305 keeps its full 16 bytes: ``cryptography`` does not offer a
truncated tag, and the construction's security analysis (RFC 8439) assumes the full one.

The receiver keeps, per sender, the highest counter accepted and a bitmap of the last ``window``
counters up to it, as IPsec does (RFC 4303): messages may arrive out of order by up to
``window - 1`` and each is still accepted exactly once.  The window is checked before the tag,
so replays are turned away without computing it, and moves only after a tag verifies, so forged
envelopes cannot push it forward or fill memory with bogus senders.  At most ``MAX_SENDERS``
windows are kept; a new sender beyond that displaces the one heard from longest ago.

A station keeps its windows in a replay file (``ReplayStore``), rewritten atomically and fsynced
after every accepted message and before it is spoken, so a message recorded off the air is
refused after a restart or a power cut as it was before.  The file is ASCII text:

    line  content
    1     ``telephrase replay 1 F``: format version 1, F = 16 hex digits, the first 8 bytes of
          HMAC-SHA256(K_mac, b"replay file"): the windows belong to this key; another key's
          file is ignored (a net that changes its key starts its windows afresh)
    2..   ``S H B``, one per sender, oldest first: sender S and highest counter H in decimal,
          B the bitmap (bit i: counter H - i accepted) in hex

A file that does not parse stops the station with an error saying so, rather than silently
reopening the window; one that cannot be written is logged and the station goes on, with
replays refused until it restarts.  File mode (``telephrase decode``) keeps its windows in
memory: decoding the same recording twice is not a replay.

Test vectors (``tests/test_auth.py``): key ``00 01 02 .. 1f``, header ``11 07``, sender 3,
counter 300, payload ``b"hi"`` (counter ``ac 02``, then the payload or its ciphertext, then the tag):

    authenticate:  ac 02 68 69 de fe 31 34 21 23 d1 da
    encrypt:       ac 02 2b 23 f9 28 47 41 11 c3 94 2e f9 a4 7e 0d c7 39 1c c8

The key file is hex (64 hex digits) or base64 of exactly 32 random bytes; blank lines, surrounding
whitespace and ``#`` comment lines are allowed.  It must not be readable or writable by group or
others.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import os
import secrets
import struct
import tempfile
import threading
from dataclasses import dataclass
from enum import Enum
from hashlib import sha256
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..codec.varint import decode_varint, encode_varint
from ..errors import TelephraseError

MIN_TAG = 4
MAX_TAG = 32
AEAD_TAG = 16
MIN_KEY = 16
KEY_BYTES = 32
MAX_COUNTER = 2**64 - 1
MAX_SENDER = 2**32 - 1
_MAC_INFO = b"telephrase v1 hmac-sha256"
_ENC_INFO = b"telephrase v1 chacha20-poly1305"
_NONCE = struct.Struct(">IQ")
MAX_SENDERS = 4096
"""Replay windows kept: far more stations than share a key on any real net, and few enough
that the replay file stays under 200 kB when a key holder invents sender ids."""
_REPLAY_MAGIC = "telephrase replay 1"

log = logging.getLogger(__name__)


class AuthConfigError(TelephraseError):
    """A key file, counter file or authentication setting cannot be used as it is."""


class Reason(str, Enum):
    """Why an envelope was rejected."""

    TRUNCATED = "truncated"
    MALFORMED = "malformed"
    BAD_TAG = "bad tag"
    TOO_OLD = "too old"
    REPLAYED = "replayed"

    def __str__(self) -> str:
        return self.value


_EXPLANATION = {
    Reason.TRUNCATED: "shorter than a counter and a tag",
    Reason.MALFORMED: "its counter is not a minimal varint below 2**64",
    Reason.BAD_TAG: "wrong key, or altered on air",
    Reason.TOO_OLD: "counter is older than the replay window",
    Reason.REPLAYED: "counter was already accepted",
}


class AuthError(TelephraseError):
    """An envelope was rejected; ``reason`` says why, ``str()`` says it in one line."""

    def __init__(self, reason: Reason, sender: int) -> None:
        super().__init__(f"message from sender {sender} rejected: {reason} ({_EXPLANATION[reason]})")
        self.reason = reason


@dataclass
class RejectionCounts:
    """Envelopes rejected so far, by reason, for the daemon to report."""

    truncated: int = 0
    malformed: int = 0
    bad_tag: int = 0
    too_old: int = 0
    replayed: int = 0

    @property
    def total(self) -> int:
        return self.truncated + self.malformed + self.bad_tag + self.too_old + self.replayed

    def add(self, reason: Reason) -> None:
        name = reason.name.lower()
        setattr(self, name, getattr(self, name) + 1)


@dataclass
class _Window:
    highest: int
    seen: int = 1
    """Bit i set: counter ``highest - i`` was accepted."""


def _subkey(key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(key)


class MessageAuth:
    """Seals outgoing payloads and opens incoming envelopes for every sender sharing one key.

    ``seal`` is stateless; ``open`` keeps the per-sender replay windows behind a lock, so a
    sender thread and a receiver thread can share one instance.
    """

    def __init__(self, key: bytes, *, tag_bytes: int = 8, encrypt: bool = False, window: int = 64,
                 replay: ReplayStore | None = None) -> None:
        """``tag_bytes`` is the HMAC tag length (4..32); with ``encrypt`` the tag is Poly1305's
        16 bytes instead, and ``tag_len`` says which applies.  With ``replay`` the windows are
        read from and saved to that file."""
        if len(key) < MIN_KEY:
            raise AuthConfigError(f"key is {len(key)} bytes; at least {MIN_KEY} are needed ({KEY_BYTES} recommended)")
        if not MIN_TAG <= tag_bytes <= MAX_TAG:
            raise AuthConfigError(f"tag_bytes {tag_bytes} is out of range: use {MIN_TAG}..{MAX_TAG} (8 is the default)")
        if window < 1:
            raise AuthConfigError(f"replay window {window} is out of range: use 1 or more (64 is the default)")
        self.encrypt = encrypt
        self.tag_len = AEAD_TAG if encrypt else tag_bytes
        self.window = window
        self.rejected = RejectionCounts()
        self._mac_key = _subkey(key, _MAC_INFO)
        self._aead = ChaCha20Poly1305(_subkey(key, _ENC_INFO))
        self._replay = replay
        self._windows: dict[int, _Window] = {}
        if replay is not None:
            self._windows = replay.load(self._fingerprint(), window)
        self._lock = threading.Lock()

    def _fingerprint(self) -> str:
        return hmac.new(self._mac_key, b"replay file", sha256).hexdigest()[:16]

    def _mac(self, header: bytes, sender: int, counter: int, payload: bytes) -> bytes:
        data = _NONCE.pack(sender, counter) + encode_varint(len(header)) + header + payload
        return hmac.new(self._mac_key, data, sha256).digest()[: self.tag_len]

    def seal(self, header: bytes, counter: int, payload: bytes, *, sender: int) -> bytes:
        """Envelope for ``payload``: counter, payload (or ciphertext), tag.

        ``counter`` must never repeat for this ``sender`` under this key; take it from a
        ``CounterStore``.
        """
        _check_sender(sender)
        if not 0 <= counter <= MAX_COUNTER:
            raise ValueError(f"counter {counter} is outside 0..{MAX_COUNTER}")
        if self.encrypt:
            body = self._aead.encrypt(_NONCE.pack(sender, counter), payload, header)
        else:
            body = payload + self._mac(header, sender, counter, payload)
        return encode_varint(counter) + body

    def open(self, header: bytes, sender: int, envelope: bytes) -> bytes:
        """The payload inside ``envelope``, or ``AuthError`` if it is forged, damaged or replayed."""
        _check_sender(sender)
        with self._lock:
            try:
                counter, payload = self._verify(header, sender, bytes(envelope))
            except AuthError as e:
                self.rejected.add(e.reason)
                raise
            self._accept(sender, counter)
            if self._replay is not None:
                self._replay.save(self._fingerprint(), self._windows)
            return payload

    def _verify(self, header: bytes, sender: int, envelope: bytes) -> tuple[int, bytes]:
        try:
            counter, start = decode_varint(envelope, 0)
        except ValueError:
            raise AuthError(Reason.TRUNCATED if len(envelope) <= 10 else Reason.MALFORMED, sender) from None
        if counter > MAX_COUNTER or envelope[:start] != encode_varint(counter):
            raise AuthError(Reason.MALFORMED, sender)
        if len(envelope) - start < self.tag_len:
            raise AuthError(Reason.TRUNCATED, sender)
        self._check_window(sender, counter)
        body = envelope[start:]
        if self.encrypt:
            try:
                return counter, self._aead.decrypt(_NONCE.pack(sender, counter), body, header)
            except InvalidTag:
                raise AuthError(Reason.BAD_TAG, sender) from None
        payload, tag = body[: -self.tag_len], body[-self.tag_len :]
        if not hmac.compare_digest(tag, self._mac(header, sender, counter, payload)):
            raise AuthError(Reason.BAD_TAG, sender)
        return counter, payload

    def _check_window(self, sender: int, counter: int) -> None:
        w = self._windows.get(sender)
        if w is None or counter > w.highest:
            return
        age = w.highest - counter
        if age >= self.window:
            raise AuthError(Reason.TOO_OLD, sender)
        if w.seen >> age & 1:
            raise AuthError(Reason.REPLAYED, sender)

    def _accept(self, sender: int, counter: int) -> None:
        """Record ``counter``; the sender's window moves to the end, the most recently heard."""
        w = self._windows.pop(sender, None)
        if w is None:
            if len(self._windows) >= MAX_SENDERS:
                del self._windows[next(iter(self._windows))]
            w = _Window(counter)
        elif counter > w.highest:
            shift = counter - w.highest
            w.seen = (w.seen << shift | 1) & ((1 << self.window) - 1) if shift < self.window else 1
            w.highest = counter
        else:
            w.seen |= 1 << (w.highest - counter)
        self._windows[sender] = w


def _check_sender(sender: int) -> None:
    if not 0 <= sender <= MAX_SENDER:
        raise ValueError(f"sender {sender} is outside 0..{MAX_SENDER}")


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temp_copy(path: Path, text: str, mode: int) -> Path:
    """A new file beside ``path`` holding ``text``, with ``mode``, fsynced; the caller moves it."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(text.encode("ascii"))
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink()
        raise
    return tmp


def _replace_file(path: Path, text: str) -> None:
    """Put ``text`` in ``path`` so that a crash at any point leaves the old or the new file
    whole: write a temporary file, fsync it, rename it over ``path``, fsync the folder."""
    tmp = _temp_copy(path, text, 0o644)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink()
        raise
    _fsync_dir(path.parent)


class ReplayStore:
    """The receiver's replay windows in a file, so a restart does not reopen them (format in
    the module docstring).  One process per file, like ``CounterStore``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._failing = False

    def load(self, fingerprint: str, window: int) -> dict[int, _Window]:
        """The windows saved under the key with ``fingerprint``; none for a missing file or
        another key's.  Bitmaps are cut to ``window``."""
        try:
            lines = self.path.read_text(encoding="ascii").splitlines()
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as e:
            raise AuthConfigError(f"replay file {self.path} cannot be read ({e})") from None
        head = lines[0].rsplit(" ", 1) if lines else []
        if len(head) != 2 or head[0] != _REPLAY_MAGIC:
            raise self._corrupt(1)
        if head[1] != fingerprint:
            log.info("replay file %s belongs to another key: starting with empty replay windows", self.path)
            return {}
        windows: dict[int, _Window] = {}
        for number, line in enumerate(lines[1:], 2):
            fields = line.split()
            try:
                sender, highest, seen = int(fields[0]), int(fields[1]), int(fields[2], 16)
            except (IndexError, ValueError):
                raise self._corrupt(number) from None
            if len(fields) != 3 or not (0 <= sender <= MAX_SENDER and 0 <= highest <= MAX_COUNTER and seen & 1):
                raise self._corrupt(number)
            windows[sender] = _Window(highest, seen & ((1 << window) - 1))
        return dict(list(windows.items())[-MAX_SENDERS:])

    def _corrupt(self, line: int) -> AuthConfigError:
        return AuthConfigError(
            f"replay file {self.path} is corrupt (line {line}); remove it to start with empty replay windows "
            "(messages recorded off the air before then could each be replayed once)"
        )

    def save(self, fingerprint: str, windows: dict[int, _Window]) -> None:
        """Write ``windows``; a failure is logged (once until a write succeeds again) and
        the station goes on: a full disk must not silence it."""
        text = "".join([f"{_REPLAY_MAGIC} {fingerprint}\n",
                        *(f"{sender} {w.highest} {w.seen:x}\n" for sender, w in windows.items())])
        try:
            _replace_file(self.path, text)
        except OSError as e:
            if not self._failing:
                log.error("replay file %s cannot be written (%s): replays are refused until a restart, "
                          "not after one", self.path, e.strerror or e)
            self._failing = True
            return
        if self._failing:
            log.info("replay file %s written again", self.path)
        self._failing = False


class CounterStore:
    """Hands out strictly increasing message counters that survive restarts and crashes.

    A receiver rejects a counter it has already seen, so a sender that forgot its counter on
    reboot would be ignored until it caught up, and in encrypt mode a reused counter reuses a
    nonce.  The file therefore holds a limit that is always above every counter handed out:
    before handing out counters the store reserves ``block`` of them by writing the new limit to
    a temporary file, fsyncing it, renaming it over the old one and fsyncing the directory.  A
    crash at any point leaves either the old limit or the new one, both above every counter
    used, and the next start resumes at that limit.

    The trade-off is ``block``: one file write per ``block`` messages, against up to ``block``
    counters skipped at each restart.  Skipped counters cost nothing at the receiver (the window
    just moves forward) and grow the varint by a byte only at 2**7, 2**14, ... counters.  The
    default 16 means one small write per 16 messages, nothing next to their minutes of air time
    and easy on SD cards, and at most 16 counters lost per restart.

    One process per file: two processes sharing it would hand out the same counters.
    """

    def __init__(self, path: str | os.PathLike[str], *, block: int = 16) -> None:
        if block < 1:
            raise AuthConfigError(f"counter block {block} is out of range: use 1 or more")
        self.path = Path(path)
        self.block = block
        self._next = self._limit = self._read()
        self._lock = threading.Lock()

    def _read(self) -> int:
        try:
            text = self.path.read_text(encoding="ascii")
        except FileNotFoundError:
            return 0
        except (OSError, UnicodeDecodeError) as e:
            raise AuthConfigError(f"counter file {self.path} cannot be read ({e})") from None
        text = text.strip()
        if not text.isdigit():
            raise AuthConfigError(
                f"counter file {self.path} is corrupt: expected one decimal number; write one above every "
                "counter this station has sent (receivers log the highest), or change to a new key"
            )
        return int(text)

    def _persist(self, limit: int) -> None:
        try:
            _replace_file(self.path, f"{limit}\n")
        except OSError as e:
            raise AuthConfigError(f"cannot write counter file {self.path} ({e.strerror or e})") from None

    def next(self) -> int:
        """The next counter, never returned before by any store on this file."""
        with self._lock:
            if self._next >= self._limit:
                if self._next > MAX_COUNTER:
                    raise AuthConfigError(f"counter file {self.path} is exhausted; generate a new key")
                limit = min(self._next + self.block, MAX_COUNTER + 1)
                self._persist(limit)
                self._limit = limit
            counter = self._next
            self._next += 1
            return counter


def load_key(path: str | os.PathLike[str]) -> bytes:
    """The pre-shared key in ``path``; ``AuthConfigError`` if missing, malformed or exposed."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            if mode & 0o077:
                raise AuthConfigError(
                    f"key file {path} is accessible to group or others (mode {mode & 0o777:03o}); run: chmod 600 {path}"
                )
            key = _parse_key(f.read())
    except FileNotFoundError:
        raise AuthConfigError(f"key file {path} does not exist; create it with 'telephrase keygen FILE' or fix the path") from None
    except OSError as e:
        raise AuthConfigError(f"key file {path} cannot be read ({e.strerror or e})") from None
    if key is None:
        raise AuthConfigError(
            f"key file {path} does not hold a key: expected {2 * KEY_BYTES} hex digits or base64 of {KEY_BYTES} bytes"
        )
    if len(key) < MIN_KEY:
        raise AuthConfigError(
            f"key in {path} is {len(key)} bytes; at least {MIN_KEY} are needed (generate a {KEY_BYTES}-byte one)"
        )
    return key


def _parse_key(raw: bytes) -> bytes | None:
    """Hex of any length, or base64 of exactly 32 bytes.

    Base64 is held to 32 bytes because almost any mistyped hex is still valid base64 (``0g`` *
    32 would be a 48-byte key); a base64 key of 32 bytes has ``=`` padding, so it is never hex.
    """
    try:
        lines = raw.decode("ascii").splitlines()
    except UnicodeDecodeError:
        return None
    text = "".join("".join(line.split()) for line in lines if not line.lstrip().startswith("#"))
    if not text:
        return None
    try:
        return bytes.fromhex(text)
    except ValueError:
        pass
    try:
        key = base64.b64decode(text, validate=True)
    except binascii.Error:
        return None
    return key if len(key) == KEY_BYTES else None


def generate_key(path: str | os.PathLike[str]) -> bytes:
    """Write a new random key to ``path`` (mode 0600) and return it; never overwrites a file.

    The key is written to a temporary file first and hard-linked into place, which fails if
    ``path`` exists, so ``path`` never holds a partial key and an existing key is never lost.
    """
    path = Path(path)
    key = secrets.token_bytes(KEY_BYTES)
    text = f"# telephrase pre-shared key: copy to every station of the net, keep secret\n{key.hex()}\n"
    try:
        tmp = _temp_copy(path, text, 0o600)
    except OSError as e:
        raise AuthConfigError(f"cannot write key file {path} ({e.strerror})") from None
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise AuthConfigError(
            f"key file {path} already exists; not overwriting it (remove it first to replace the key)"
        ) from None
    except OSError as e:
        raise AuthConfigError(f"cannot write key file {path} ({e.strerror})") from None
    finally:
        tmp.unlink()
    _fsync_dir(path.parent)
    return key
