"""Bounds: how much speech a payload of a given size may honestly claim to carry.

A decoder that believes its input can be told to allocate anything: a 48-byte Brotli bomb
expands to 10 MB of text, a varint pause of 2^62 units asks for an array no machine has, a
3600 s pause blocks the speaker for an hour.  Every payload decoder therefore checks what it
is about to produce against these bounds *before* it allocates, and refuses the message with a
reason (``BoundError.reason``) that the receiver counts; nothing over a bound is spoken.

The bounds follow from the link, not from taste: a message cannot say more than its bytes could
carry at any real rate of speech and of coding.

    bound                  value                    why
    text characters        16 per payload byte      the text coder's best case is about
                           + 256, at most 16,384    1 bit a character (2.05 on the corpus,
                                                    Brotli 5); 0.5 bit is beyond any real text
    words                  one per character        a word is at least one character
    phrases                one per character        a phrase holds at least one word
    pause before a phrase  30 s                     payload formats 2–4 cannot say more than
                                                    8 s; the format 1 encoder clips to this
    phrase duration        0.5 s a character + 2 s  seven times the corpus's 72 ms a
                                                    character (format 2–4 bins reach 0.27 s)
    message duration       0.5 s a character + 30 s, at most 900 s
                                                    15 minutes at 14 characters a second is
                                                    12,600 characters: more than a 237-byte
                                                    MTU's 255 fragments carry at 2 bits each

With these, the largest payload (255 fragments at the largest MTU) decodes in well under a
second of CPU and a few megabytes of memory, and the longest message it can make the speaker
say is 15 minutes, which a message of that size could honestly hold.
"""

from __future__ import annotations

from ..errors import FrameError
from .message import Message

CHARS_PER_BYTE = 16
SLACK_CHARS = 256
MAX_CHARS = 16_384
MAX_PAUSE = 30.0
"""Seconds of silence before a phrase."""
SECONDS_PER_CHAR = 0.5
PHRASE_SLACK = 2.0
MESSAGE_SLACK = 30.0
MAX_SECONDS = 900.0
UTF8_BYTES_PER_CHAR = 4


class BoundError(FrameError):
    """A payload that claims more than its size could carry; ``reason`` names the bound."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"payload refused: {detail}")
        self.reason = reason


def max_chars(payload_bytes: int) -> int:
    """The most characters of text a payload of ``payload_bytes`` may decode to."""
    return min(MAX_CHARS, CHARS_PER_BYTE * payload_bytes + SLACK_CHARS)


def max_text_bytes(payload_bytes: int) -> int:
    """The most bytes of UTF-8 a decompressor may produce for such a payload."""
    return UTF8_BYTES_PER_CHAR * max_chars(payload_bytes)


def check_pause(seconds: float) -> None:
    if not 0 <= seconds <= MAX_PAUSE:
        raise BoundError("pause", f"a pause of {seconds:.0f} s (at most {MAX_PAUSE:.0f} s)")


def check_phrase(seconds: float, chars: int) -> None:
    limit = SECONDS_PER_CHAR * chars + PHRASE_SLACK
    if not 0 <= seconds <= limit:
        raise BoundError("duration", f"a phrase of {chars} characters lasting {seconds:.0f} s "
                                     f"(at most {limit:.1f} s)")


def check_count(what: str, count: int, chars: int) -> None:
    """``count`` phrases or words in a text of ``chars`` characters."""
    if count > max(1, chars):
        raise BoundError(what, f"{count} {what} in {chars} characters of text")


def check_message(message: Message, payload_bytes: int) -> None:
    """Every bound, on a decoded message: the decoders check each field as they read it, this
    is the last word on the whole."""
    text = message.coded_text
    chars = len(text)
    if chars > max_chars(payload_bytes):
        raise BoundError("text", f"{chars} characters from {payload_bytes} bytes "
                                 f"(at most {max_chars(payload_bytes)})")
    check_count("phrases", len(message.phrases), chars)
    check_count("words", len(message.words), chars)
    for phrase in message.phrases:
        check_pause(phrase.pause)
        check_phrase(phrase.seconds, len(phrase.text.strip()))
    for mark in message.words:
        if mark.duration is not None:
            check_phrase(mark.duration, len(mark.text.strip()))
    limit = min(MAX_SECONDS, SECONDS_PER_CHAR * chars + MESSAGE_SLACK)
    if message.seconds > limit:
        raise BoundError("duration", f"{message.seconds:.0f} s of speech in {chars} characters "
                                     f"(at most {limit:.0f} s)")
