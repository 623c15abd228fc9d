"""Authentication end to end: the sender seals, the receiver refuses anything not sealed right."""

import dataclasses

import pytest

from conftest import SAMPLES
from telephrase.audio.files import read_audio
from telephrase.config import Config, replace
from telephrase.link.auth import generate_key
from telephrase.link.framing import AUTO, decode_frame
from telephrase.pipeline import Receiver, Sender

pytestmark = pytest.mark.slow
PARITY = AUTO


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    generate_key(folder / "a.key")
    generate_key(folder / "b.key")
    return folder


def _config(keys, key: str | None, **auth) -> Config:
    settings = {"key_file": str(keys / key) if key else "", "counter_file": str(keys / "counter"), **auth}
    return replace(Config(), auth=settings)


@pytest.fixture(scope="module")
def sent(engines, samples, keys):
    sender = Sender(_config(keys, "a.key"), engines)
    return sender.transmit(read_audio(SAMPLES / samples[1]["path"]))


def _receive(engines, config, frames):
    receiver = Receiver(config, engines)
    return [m for f in frames if (m := receiver.accept(f))], receiver


def test_right_key_accepts_once(engines, keys, sent):
    got, receiver = _receive(engines, _config(keys, "a.key"), list(sent.frames) * 3)
    assert [m.text for m in got] == [sent.message.text]
    assert receiver.stats.rejected == 0


@pytest.mark.parametrize("key", ["b.key", None])
def test_wrong_or_missing_key_is_refused(engines, keys, sent, key):
    got, receiver = _receive(engines, _config(keys, key), sent.frames)
    assert got == [] and receiver.stats.rejected == 1


def test_unauthenticated_messages_are_refused_when_a_key_is_set(engines, keys, sent):
    frame = decode_frame(sent.frames[0], PARITY)
    forged = dataclasses.replace(frame, authenticated=False, chunk=frame.chunk[1:-8])
    got, receiver = _receive(engines, _config(keys, "a.key"), [forged.encode(PARITY)])
    assert got == [] and receiver.stats.rejected == 1


def test_forged_and_replayed_envelopes_are_refused(engines, keys, sent):
    frame = decode_frame(sent.frames[0], PARITY)
    receiver = Receiver(_config(keys, "a.key"), engines)
    chunk = bytearray(frame.chunk)
    chunk[3] ^= 0x20
    forged = dataclasses.replace(frame, chunk=bytes(chunk), sequence=(frame.sequence + 2) % 256)
    assert receiver.accept(forged.encode(PARITY)) is None
    assert receiver.accept(sent.frames[0]) is not None
    replayed = dataclasses.replace(frame, sequence=(frame.sequence + 1) % 256)
    assert receiver.accept(replayed.encode(PARITY)) is None
    assert receiver.stats.rejected == 2 and receiver.auth.rejected.replayed == 1
    assert receiver.auth.rejected.bad_tag == 1


def test_encryption_round_trip(engines, samples, keys):
    config = _config(keys, "a.key", encrypt=True)
    t = Sender(config, engines).transmit(read_audio(SAMPLES / samples[2]["path"]))
    assert b"block" not in b"".join(t.frames)
    got, _ = _receive(engines, config, t.frames)
    assert [m.text for m in got] == [t.message.text]
    got, receiver = _receive(engines, _config(keys, "a.key"), t.frames)
    assert got == [] and receiver.stats.rejected == 1
