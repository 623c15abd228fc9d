import base64
import hashlib
import hmac
import os
import random
import stat

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telephrase.codec.varint import encode_varint
from telephrase.errors import TelephraseError
from telephrase.link import auth
from telephrase.link.auth import AuthConfigError, AuthError, CounterStore, MessageAuth, Reason, generate_key, load_key

KEY = bytes(range(32))
HEADER = bytes.fromhex("11 07")
MODES = pytest.mark.parametrize("encrypt", [False, True], ids=["authenticate", "encrypt"])


def rejection(box: MessageAuth, header: bytes, sender: int, envelope: bytes) -> Reason:
    with pytest.raises(AuthError) as caught:
        box.open(header, sender, envelope)
    return caught.value.reason


@pytest.mark.parametrize(
    "encrypt, vector",
    [
        (False, "ac 02 68 69 de fe 31 34 21 23 d1 da"),
        (True, "ac 02 2b 23 f9 28 47 41 11 c3 94 2e f9 a4 7e 0d c7 39 1c c8"),
    ],
    ids=["authenticate", "encrypt"],
)
def test_docstring_test_vectors(encrypt, vector):
    envelope = MessageAuth(KEY, encrypt=encrypt).seal(HEADER, 300, b"hi", sender=3)
    assert envelope == bytes.fromhex(vector)
    assert MessageAuth(KEY, encrypt=encrypt).open(HEADER, 3, envelope) == b"hi"


def test_tag_is_the_documented_hmac_construction():
    """Recompute HKDF (RFC 5869) and the tag with the standard library, as the docstring says."""
    prk = hmac.new(bytes(32), KEY, hashlib.sha256).digest()
    k_mac = hmac.new(prk, b"telephrase v1 hmac-sha256\x01", hashlib.sha256).digest()
    header, sender, counter, payload = b"\x01\x02\x03", 70000, 2**40 + 5, b"over"
    data = sender.to_bytes(4, "big") + counter.to_bytes(8, "big") + bytes([len(header)]) + header + payload
    tag = hmac.new(k_mac, data, hashlib.sha256).digest()[:12]
    envelope = MessageAuth(KEY, tag_bytes=12).seal(header, counter, payload, sender=sender)
    assert envelope == encode_varint(counter) + payload + tag


@MODES
@pytest.mark.parametrize("payload", [b"", b"x", bytes(range(256)) * 4])
def test_round_trip(encrypt, payload):
    sender, receiver = MessageAuth(KEY, encrypt=encrypt), MessageAuth(KEY, encrypt=encrypt)
    for counter in (0, 127, 128, 2**64 - 1):
        envelope = sender.seal(HEADER, counter, payload, sender=9)
        assert len(envelope) == len(encode_varint(counter)) + len(payload) + sender.tag_len
        assert receiver.open(HEADER, 9, envelope) == payload
    assert receiver.rejected.total == 0


@MODES
def test_wrong_key_is_rejected(encrypt):
    envelope = MessageAuth(KEY, encrypt=encrypt).seal(HEADER, 1, b"hello", sender=1)
    other = MessageAuth(bytes(32), encrypt=encrypt)
    assert rejection(other, HEADER, 1, envelope) == Reason.BAD_TAG


@MODES
def test_every_bit_flip_of_envelope_header_or_sender_is_rejected(encrypt):
    envelope = MessageAuth(KEY, encrypt=encrypt).seal(HEADER, 300, b"telephrase", sender=3)
    receiver = MessageAuth(KEY, encrypt=encrypt)
    for bit in range(len(envelope) * 8):
        damaged = bytearray(envelope)
        damaged[bit // 8] ^= 1 << (bit % 8)
        assert rejection(receiver, HEADER, 3, bytes(damaged)) in (Reason.BAD_TAG, Reason.MALFORMED), bit
    for bit in range(len(HEADER) * 8):
        header = bytearray(HEADER)
        header[bit // 8] ^= 1 << (bit % 8)
        assert rejection(receiver, bytes(header), 3, envelope) == Reason.BAD_TAG, bit
    assert rejection(receiver, HEADER + b"\x00", 3, envelope) == Reason.BAD_TAG
    assert rejection(receiver, HEADER, 4, envelope) == Reason.BAD_TAG
    assert receiver.rejected.total == len(envelope) * 8 + len(HEADER) * 8 + 2
    assert receiver.open(HEADER, 3, envelope) == b"telephrase"


@MODES
def test_every_truncation_is_rejected(encrypt):
    box = MessageAuth(KEY, encrypt=encrypt)
    envelope = box.seal(HEADER, 300, b"telephrase", sender=3)
    shortest = 2 + box.tag_len
    for length in range(len(envelope)):
        expected = Reason.TRUNCATED if length < shortest else Reason.BAD_TAG
        assert rejection(box, HEADER, 3, envelope[:length]) == expected, length
    assert box.rejected.truncated == shortest
    assert box.rejected.bad_tag == len(envelope) - shortest


def test_non_minimal_or_oversized_counters_are_malformed():
    box = MessageAuth(KEY)
    envelope = box.seal(HEADER, 5, b"hi", sender=1)
    assert rejection(box, HEADER, 1, b"\x85\x00" + envelope[1:]) == Reason.MALFORMED
    assert rejection(box, HEADER, 1, b"\xff" * 9 + b"\x02" + bytes(20)) == Reason.MALFORMED
    assert rejection(box, HEADER, 1, b"\xff" * 11 + bytes(20)) == Reason.MALFORMED
    assert rejection(box, HEADER, 1, b"\xff" * 10) == Reason.TRUNCATED
    assert box.rejected.malformed == 3


@MODES
def test_replayed_and_too_old_messages_are_rejected(encrypt):
    sender, receiver = MessageAuth(KEY, encrypt=encrypt), MessageAuth(KEY, encrypt=encrypt)
    seal = {c: sender.seal(HEADER, c, f"message {c}".encode(), sender=5) for c in (10, 36, 37, 100)}
    assert receiver.open(HEADER, 5, seal[10]) == b"message 10"
    assert rejection(receiver, HEADER, 5, seal[10]) == Reason.REPLAYED
    assert receiver.open(HEADER, 5, seal[100]) == b"message 100"
    assert rejection(receiver, HEADER, 5, seal[100]) == Reason.REPLAYED
    assert rejection(receiver, HEADER, 5, seal[36]) == Reason.TOO_OLD
    assert rejection(receiver, HEADER, 5, seal[10]) == Reason.TOO_OLD
    assert receiver.open(HEADER, 5, seal[37]) == b"message 37"
    assert receiver.rejected == auth.RejectionCounts(replayed=2, too_old=2)


def test_out_of_order_delivery_within_the_window_is_accepted_once_each():
    sender, receiver = MessageAuth(KEY), MessageAuth(KEY, window=64)
    rng = random.Random(7)
    counters = sorted(range(500), key=lambda c: c + rng.uniform(0, 63))
    assert counters != sorted(counters)
    envelopes = {c: sender.seal(HEADER, c, c.to_bytes(2, "big"), sender=2) for c in counters}
    for c in counters:
        assert receiver.open(HEADER, 2, envelopes[c]) == c.to_bytes(2, "big")
    for c in counters:
        with pytest.raises(AuthError):
            receiver.open(HEADER, 2, envelopes[c])
    assert receiver.rejected.replayed == 64
    assert receiver.rejected.too_old == 500 - 64
    assert receiver.rejected.bad_tag == 0


def test_forgeries_do_not_move_the_window():
    sender, receiver = MessageAuth(KEY), MessageAuth(KEY)
    forged = bytearray(sender.seal(HEADER, 1_000_000, b"evil", sender=1))
    forged[-1] ^= 1
    assert rejection(receiver, HEADER, 1, bytes(forged)) == Reason.BAD_TAG
    assert receiver.open(HEADER, 1, sender.seal(HEADER, 3, b"real", sender=1)) == b"real"


def test_senders_have_separate_windows():
    sender, receiver = MessageAuth(KEY), MessageAuth(KEY)
    assert receiver.open(HEADER, 1, sender.seal(HEADER, 5, b"one", sender=1)) == b"one"
    assert receiver.open(HEADER, 2, sender.seal(HEADER, 5, b"two", sender=2)) == b"two"
    assert receiver.open(HEADER, 2, sender.seal(HEADER, 10_000, b"two", sender=2)) == b"two"
    assert receiver.open(HEADER, 1, sender.seal(HEADER, 4, b"one", sender=1)) == b"one"
    assert rejection(receiver, HEADER, 1, sender.seal(HEADER, 5, b"one", sender=1)) == Reason.REPLAYED


def test_encryption_hides_the_plaintext():
    payload = b"meet at the north gate at noon"
    plain = MessageAuth(KEY).seal(HEADER, 1, payload, sender=1)
    secret = MessageAuth(KEY, encrypt=True).seal(HEADER, 1, payload, sender=1)
    assert payload in plain
    body = secret[1:-16]
    assert len(body) == len(payload) and body != payload
    assert all(payload[i : i + 4] not in secret for i in range(len(payload) - 3))
    other_nonce = MessageAuth(KEY, encrypt=True).seal(HEADER, 2, payload, sender=1)
    assert other_nonce[1:-16] != body


def test_tag_bytes_bounds():
    for bad in (0, 3, 33):
        with pytest.raises(AuthConfigError, match="4..32"):
            MessageAuth(KEY, tag_bytes=bad)
    for good in (4, 8, 32):
        box = MessageAuth(KEY, tag_bytes=good)
        assert box.tag_len == good
        assert len(box.seal(b"", 0, b"p", sender=0)) == 1 + 1 + good
    assert MessageAuth(KEY, tag_bytes=4, encrypt=True).tag_len == 16


def test_bad_settings_and_arguments_are_refused():
    with pytest.raises(AuthConfigError, match="at least 16"):
        MessageAuth(bytes(15))
    with pytest.raises(AuthConfigError, match="window"):
        MessageAuth(KEY, window=0)
    box = MessageAuth(KEY)
    with pytest.raises(ValueError):
        box.seal(HEADER, -1, b"x", sender=0)
    with pytest.raises(ValueError):
        box.seal(HEADER, 2**64, b"x", sender=0)
    with pytest.raises(ValueError):
        box.seal(HEADER, 0, b"x", sender=2**32)
    with pytest.raises(ValueError):
        box.open(HEADER, -1, b"\x00" * 9)


def test_rejection_is_one_line_naming_sender_and_reason():
    error = pytest.raises(AuthError, MessageAuth(KEY).open, HEADER, 42, b"\x00").value
    assert isinstance(error, TelephraseError)
    assert error.reason == "truncated"
    assert "sender 42" in str(error) and "truncated" in str(error) and "\n" not in str(error)


@settings(max_examples=300, deadline=None)
@given(
    encrypt=st.booleans(),
    payload=st.binary(max_size=40),
    counter=st.integers(0, 2**64 - 1),
    mutations=st.lists(
        st.tuples(st.sampled_from(["flip", "set", "insert", "delete"]), st.integers(0, 10**6), st.integers(0, 255)),
        min_size=1,
        max_size=4,
    ),
)
def test_mutated_envelopes_are_never_accepted(encrypt, payload, counter, mutations):
    envelope = MessageAuth(KEY, encrypt=encrypt).seal(HEADER, counter, payload, sender=7)
    mutated = bytearray(envelope)
    for kind, position, value in mutations:
        i = position % (len(mutated) + 1)
        if kind == "insert":
            mutated.insert(i, value)
        elif i < len(mutated):
            if kind == "flip":
                mutated[i] ^= 1 << value % 8
            elif kind == "set":
                mutated[i] = value
            else:
                del mutated[i]
    receiver = MessageAuth(KEY, encrypt=encrypt)
    if bytes(mutated) == envelope:
        assert receiver.open(HEADER, 7, bytes(mutated)) == payload
    else:
        with pytest.raises(AuthError):
            receiver.open(HEADER, 7, bytes(mutated))
        assert receiver.rejected.total == 1


def write_key_file(path, text, mode=0o600):
    path.write_text(text)
    path.chmod(mode)
    return path


def test_generate_key_writes_mode_0600_and_load_key_reads_it(tmp_path):
    path = tmp_path / "psk"
    key = generate_key(path)
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key(path) == key
    assert os.listdir(tmp_path) == ["psk"]


def test_generate_key_never_overwrites(tmp_path):
    path = tmp_path / "psk"
    key = generate_key(path)
    with pytest.raises(AuthConfigError, match="already exists"):
        generate_key(path)
    assert load_key(path) == key
    assert os.listdir(tmp_path) == ["psk"]


def test_generate_key_ignores_a_permissive_umask(tmp_path):
    old = os.umask(0)
    try:
        generate_key(tmp_path / "psk")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "psk").stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "text",
    [
        KEY.hex(),
        "# station key\n\n  " + KEY.hex()[:32] + "\n\t" + KEY.hex()[32:].upper() + "  \n# end\n",
        "000102030405060708090a0b0c0d0e0f 101112131415161718191a1b1c1d1e1f",
        "# base64\n" + base64.b64encode(KEY).decode() + "\n",
    ],
    ids=["hex", "hex-comments-whitespace", "hex-spaced", "base64"],
)
def test_load_key_formats(tmp_path, text):
    assert load_key(write_key_file(tmp_path / "psk", text)) == KEY


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o602, 0o610, 0o644, 0o666])
def test_load_key_refuses_files_others_can_reach(tmp_path, mode):
    path = write_key_file(tmp_path / "psk", KEY.hex(), mode)
    with pytest.raises(AuthConfigError) as caught:
        load_key(path)
    message = str(caught.value)
    assert f"chmod 600 {path}" in message and str(path) in message and "\n" not in message


@pytest.mark.parametrize(
    "content",
    [b"", b"# only a comment\n\n", b"not a key at all", b"0g" * 32, b"\xff\xfe" * 32, b"AAAA=AAA"],
    ids=["empty", "comments-only", "words", "bad-hex", "binary", "bad-base64"],
)
def test_load_key_refuses_bad_content(tmp_path, content):
    path = tmp_path / "psk"
    path.write_bytes(content)
    path.chmod(0o600)
    with pytest.raises(AuthConfigError, match="does not hold a key"):
        load_key(path)


def test_load_key_refuses_short_keys(tmp_path):
    with pytest.raises(AuthConfigError, match="15 bytes; at least 16"):
        load_key(write_key_file(tmp_path / "psk", bytes(15).hex()))
    assert load_key(write_key_file(tmp_path / "psk", bytes(16).hex())) == bytes(16)


def test_load_key_missing_file(tmp_path):
    path = tmp_path / "nowhere"
    with pytest.raises(AuthConfigError, match="does not exist") as caught:
        load_key(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_load_key_unreadable_path(tmp_path):
    directory = tmp_path / "keys"
    directory.mkdir(mode=0o700)
    with pytest.raises(AuthConfigError, match="cannot be read"):
        load_key(directory)


def test_counter_store_is_strictly_increasing_across_restarts(tmp_path):
    path = tmp_path / "counter"
    first = CounterStore(path, block=4)
    got = [first.next() for _ in range(10)]
    assert got == list(range(10))
    second = CounterStore(path, block=4)
    more = [second.next() for _ in range(10)]
    assert min(more) > max(got)
    assert more == sorted(set(more))
    assert [p.name for p in tmp_path.iterdir()] == ["counter"]


def test_counter_store_never_repeats_across_crashes(tmp_path):
    path = tmp_path / "counter"
    seen: list[int] = []
    rng = random.Random(3)
    for _ in range(50):
        store = CounterStore(path, block=8)
        seen += [store.next() for _ in range(rng.randrange(0, 20))]
    assert seen == sorted(set(seen))


def test_counter_store_failed_reservation_hands_out_nothing(tmp_path, monkeypatch):
    path = tmp_path / "counter"
    store = CounterStore(path, block=4)
    got = [store.next() for _ in range(4)]

    def power_cut(src, dst):
        raise OSError(5, "Input/output error")

    with monkeypatch.context() as m:
        m.setattr(auth.os, "replace", power_cut)
        with pytest.raises(AuthConfigError, match="cannot write counter file"):
            store.next()
    assert path.read_text() == "4\n"
    assert [p.name for p in tmp_path.iterdir()] == ["counter"]
    assert CounterStore(path, block=4).next() == 4
    assert store.next() not in got


def test_counter_store_stops_at_the_last_counter(tmp_path):
    path = tmp_path / "counter"
    path.write_text(f"{auth.MAX_COUNTER - 1}\n")
    store = CounterStore(path)
    assert [store.next(), store.next()] == [auth.MAX_COUNTER - 1, auth.MAX_COUNTER]
    with pytest.raises(AuthConfigError, match="exhausted"):
        store.next()
    with pytest.raises(AuthConfigError, match="exhausted"):
        CounterStore(path).next()


def test_counter_store_refuses_a_corrupt_file(tmp_path):
    path = tmp_path / "counter"
    path.write_text("12x\n")
    with pytest.raises(AuthConfigError, match="corrupt"):
        CounterStore(path)
    with pytest.raises(AuthConfigError, match="block"):
        CounterStore(tmp_path / "other", block=0)
