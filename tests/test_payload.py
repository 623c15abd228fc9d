import pytest

from telephrase.errors import FrameError
from telephrase.message import Message, Phrase, message_from_transcript
from telephrase.payload import TextCoding, decode_payload, encode_payload
from telephrase.transcribe import Transcript, Word
from telephrase.varint import decode_varint, encode_varint

MESSAGE = Message((Phrase(" Hello there.", 0.5, 0.9), Phrase(" Over.", 0.3, 0.4)))


def test_version_1_test_vector():
    data = encode_payload(MESSAGE, TextCoding.UTF8, timing=True)
    assert data == bytes.fromhex("18 02 0d 0a 12 06 06 08") + " Hello there. Over.".encode()
    assert decode_payload(data) == MESSAGE


@pytest.mark.parametrize("coding", list(TextCoding))
@pytest.mark.parametrize("timing", [True, False])
def test_round_trip_any_unicode(coding, timing):
    text = " Grüße aus Köln, 東京 and 🚀 — ça va? Straße №5"
    message = Message((Phrase(text, 0.25, 3.15),))
    decoded = decode_payload(encode_payload(message, coding, timing))
    assert decoded.text == message.text
    if timing:
        assert decoded == message


def test_brotli_is_smaller_than_utf8_for_english():
    text = " I could not help watching your face with some anxiety when Mr. Thornton made his confession."
    message = Message((Phrase(text, 0.0, 5.0),))
    assert len(encode_payload(message, TextCoding.BROTLI)) < len(encode_payload(message, TextCoding.UTF8))


def test_unknown_version_is_refused_with_a_clear_error():
    data = bytearray(encode_payload(MESSAGE))
    data[0] = (2 << 4) | (data[0] & 0x0F)
    with pytest.raises(FrameError, match="version 2 is not supported"):
        decode_payload(bytes(data))


@pytest.mark.parametrize("cut", [1, 2, 4, 7])
def test_truncated_payload_never_decodes_to_a_wrong_message(cut):
    data = encode_payload(MESSAGE)
    try:
        decoded = decode_payload(data[:cut])
    except FrameError:
        return
    assert decoded.text != MESSAGE.text or decoded == MESSAGE


def test_empty_payload():
    with pytest.raises(FrameError):
        decode_payload(b"")


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 2**32, 2**63 - 1])
def test_varint_round_trip(value):
    data = encode_varint(value)
    assert decode_varint(data + b"\xff", 0) == (value, len(data))
    assert len(encode_varint(127)) == 1


def test_phrases_split_at_pauses():
    words = tuple(
        Word(t, s, e, 1.0)
        for t, s, e in [(" One", 0.3, 0.6), (" two.", 0.6, 0.9), (" Three", 1.5, 1.8), (" four", 1.85, 2.2)]
    )
    message = message_from_transcript(Transcript(words, "en", 1.0, 2.5, 0.1), phrase_pause=0.25)
    assert [p.text for p in message.phrases] == [" One two.", " Three four"]
    assert message.phrases[0].pause == pytest.approx(0.3)
    assert message.phrases[1].pause == pytest.approx(0.6)
    assert message.phrases[1].seconds == pytest.approx(0.7)
    assert message.text == "One two. Three four"
