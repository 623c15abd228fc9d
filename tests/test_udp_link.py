"""UdpLink over real sockets, on loopback addresses only: 127.0.0.1, ::1, and a multicast group
joined on the loopback interface (127.0.0.1), so nothing leaves the host."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from telephrase.link.udp_link import MAX_DATAGRAM, UdpError, UdpLink, parse_endpoint

LOOPBACK = "127.0.0.1"
LOOPBACK6 = "::1"
GROUP = "239.255.73.1"
"""Organisation-local scope (RFC 2365); joined and sent on the loopback interface only."""

BATCH = 16
"""Frames sent before any is read: enough to show order, few enough for the receive buffer."""


def free_port(family: int = socket.AF_INET, host: str = LOOPBACK) -> int:
    """A port that nothing was bound to a moment ago, for a link whose peer must be known first."""
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def linked_pair(host: str = LOOPBACK, family: int = socket.AF_INET, **options: Any) -> tuple[UdpLink, UdpLink]:
    port = free_port(family, host)
    a = UdpLink(bind=(host, 0), peer=(host, port), **options)
    b = UdpLink(bind=(host, port), peer=a.local_address, **options)
    return a, b


@pytest.fixture
def pair() -> Iterator[tuple[UdpLink, UdpLink]]:
    a, b = linked_pair()
    yield a, b
    a.close()
    b.close()


def every_frame() -> list[bytes]:
    """Sizes 1..MAX_DATAGRAM; the starting byte moves with the size, so every value occurs."""
    return [bytes((size + i) % 256 for i in range(size)) for size in range(1, MAX_DATAGRAM + 1)]


def exchange(sender: UdpLink, receiver: UdpLink, frames: list[bytes]) -> list[bytes | None]:
    received: list[bytes | None] = []
    for start in range(0, len(frames), BATCH):
        batch = frames[start : start + BATCH]
        for frame in batch:
            sender.send(frame)
        received += [receiver.receive(1.0) for _ in batch]
    return received


@pytest.mark.parametrize(
    ("text", "endpoint"),
    [
        ("127.0.0.1:7300", ("127.0.0.1", 7300)),
        ("modem.example:0", ("modem.example", 0)),
        ("[::1]:7300", ("::1", 7300)),
        ("[2001:db8::7]:65535", ("2001:db8::7", 65535)),
    ],
)
def test_parse_endpoint(text: str, endpoint: tuple[str, int]) -> None:
    assert parse_endpoint(text) == endpoint


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("7300", "port is missing"),
        ("modem", "port is missing"),
        ("modem:", "port must be"),
        (":7300", "host is missing"),
        ("[]:7300", "host is missing"),
        ("::1:7300", "needs brackets"),
        ("[::1]", "followed by :port"),
        ("[::1]7300", "followed by :port"),
        ("[::1:7300", "followed by :port"),
        ("modem:65536", "port must be"),
        ("modem:-1", "port must be"),
        ("modem:73a0", "port must be"),
        ("modem:٧٣٠٠", "port must be"),
    ],
)
def test_parse_endpoint_rejects_bad_input_in_one_line(text: str, why: str) -> None:
    with pytest.raises(UdpError, match=why) as caught:
        parse_endpoint(text)
    assert repr(text) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_ephemeral_port_is_exposed(pair: tuple[UdpLink, UdpLink]) -> None:
    host, port = pair[0].local_address
    assert host == LOOPBACK
    assert 0 < port <= 65535


def test_unicast_carries_every_byte_value_and_size_both_ways_in_order(pair: tuple[UdpLink, UdpLink]) -> None:
    a, b = pair
    frames = every_frame()
    assert exchange(a, b, frames) == frames
    assert exchange(b, a, frames[::-1]) == frames[::-1]
    total = sum(map(len, frames))
    for link in pair:
        assert (link.stats.frames_sent, link.stats.bytes_sent) == (len(frames), total)
        assert (link.stats.frames_received, link.stats.bytes_received) == (len(frames), total)
        assert link.stats.errors == 0


def test_oversize_frame_is_refused(pair: tuple[UdpLink, UdpLink]) -> None:
    a, b = pair
    with pytest.raises(UdpError, match=f"frame of {MAX_DATAGRAM + 1} bytes .* at most {MAX_DATAGRAM} bytes"):
        a.send(bytes(MAX_DATAGRAM + 1))
    assert a.stats.frames_sent == 0
    assert b.receive(0.1) is None


def test_max_datagram_is_configurable_and_checked() -> None:
    a, b = linked_pair(max_datagram=200)
    with a, b:
        a.send(bytes(200))
        assert b.receive(1.0) == bytes(200)
        with pytest.raises(UdpError, match="201 bytes"):
            a.send(bytes(201))
    with pytest.raises(UdpError, match="max_datagram 70000 is out of range"):
        UdpLink(bind=(LOOPBACK, 0), peer=(LOOPBACK, 7300), max_datagram=70000)


def test_receive_polls_and_times_out(pair: tuple[UdpLink, UdpLink]) -> None:
    a, _ = pair
    start = time.monotonic()
    assert a.receive(0) is None
    assert time.monotonic() - start < 0.1
    start = time.monotonic()
    assert a.receive(0.2) is None
    assert 0.2 <= time.monotonic() - start < 1.0


def test_receive_none_waits_until_a_frame_arrives(pair: tuple[UdpLink, UdpLink]) -> None:
    a, b = pair
    received: list[bytes | None] = []
    waiter = threading.Thread(target=lambda: received.append(b.receive(None)), daemon=True)
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive()
    a.send(b"late")
    waiter.join(2.0)
    assert received == [b"late"]


def test_peer_not_listening_is_counted_and_the_link_keeps_working() -> None:
    with UdpLink(bind=(LOOPBACK, 0), peer=(LOOPBACK, free_port())) as link:
        for _ in range(3):
            link.send(b"anyone there?")
        assert link.receive(0.2) is None
        assert link.stats.frames_sent == 3
        assert 1 <= link.stats.errors <= 3
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
            other.sendto(b"still receiving", link.local_address)
        assert link.receive(1.0) == b"still receiving"


def test_accept_from_keeps_only_the_peer() -> None:
    port = free_port()
    a = UdpLink(bind=(LOOPBACK, 0), peer=(LOOPBACK, port))
    b = UdpLink(bind=(LOOPBACK, port), peer=a.local_address, accept_from=a.local_address)
    with a, b, UdpLink(bind=(LOOPBACK, 0), peer=b.local_address) as stranger:
        stranger.send(b"not for you")
        a.send(b"hello")
        assert b.receive(1.0) == b"hello"
        assert b.receive(0.1) is None
        assert (b.stats.frames_received, b.stats.errors) == (1, 1)


def test_accept_from_port_0_accepts_any_port_of_the_host() -> None:
    port = free_port()
    a = UdpLink(bind=(LOOPBACK, 0), peer=(LOOPBACK, port))
    b = UdpLink(bind=(LOOPBACK, port), peer=a.local_address, accept_from=(LOOPBACK, 0))
    with a, b, UdpLink(bind=(LOOPBACK, 0), peer=b.local_address) as other:
        other.send(b"one")
        a.send(b"two")
        assert [b.receive(1.0), b.receive(1.0)] == [b"one", b"two"]
        assert b.stats.errors == 0


def test_multicast_reaches_every_receiver_on_the_port() -> None:
    options: dict[str, Any] = {"multicast_interface": LOOPBACK, "multicast_ttl": 1, "multicast_loop": True}
    port = free_port()
    frames = [bytes([n]) * n for n in range(1, 200, 7)] + [bytes(range(256))]
    with ExitStack() as links:
        receivers = [links.enter_context(UdpLink(bind=(GROUP, port), peer=(GROUP, port), **options)) for _ in range(2)]
        sender = links.enter_context(UdpLink(bind=(LOOPBACK, 0), peer=(GROUP, port), **options))
        for frame in frames:
            sender.send(frame)
        for receiver in receivers:
            assert [receiver.receive(1.0) for _ in frames] == frames
            assert receiver.receive(0) is None
            assert receiver.stats.errors == 0


def test_ipv6_multicast_is_refused_clearly() -> None:
    with pytest.raises(UdpError, match="IPv6 multicast"):
        UdpLink(bind=(LOOPBACK6, 0), peer=("ff02::1", 7300))


def test_multicast_ttl_is_checked() -> None:
    with pytest.raises(UdpError, match="multicast_ttl 256 is out of range"):
        UdpLink(bind=(GROUP, 0), peer=(GROUP, 7300), multicast_interface=LOOPBACK, multicast_ttl=256)


def test_multicast_bind_needs_a_multicast_peer() -> None:
    with pytest.raises(UdpError, match="is a multicast group but peer"):
        UdpLink(bind=(GROUP, 0), peer=(LOOPBACK, 7300))


def test_port_in_use_is_a_one_line_error(pair: tuple[UdpLink, UdpLink]) -> None:
    with pytest.raises(UdpError, match="cannot open UDP link on 127.0.0.1:") as caught:
        UdpLink(bind=pair[0].local_address, peer=(LOOPBACK, 7300))
    assert "\n" not in str(caught.value)


def test_peer_of_the_other_family_is_refused() -> None:
    with pytest.raises(UdpError, match=r"cannot resolve peer \[::1\]:7300 as IPv4"):
        UdpLink(bind=(LOOPBACK, 0), peer=(LOOPBACK6, 7300))


def ipv6_loopback_missing() -> str | None:
    if not socket.has_ipv6:
        return "Python was built without IPv6"
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind((LOOPBACK6, 0))
    except OSError as e:
        return f"cannot bind UDP on [::1]: {e.strerror}"
    return None


@pytest.mark.skipif(ipv6_loopback_missing() is not None, reason=str(ipv6_loopback_missing()))
def test_ipv6_unicast_on_loopback() -> None:
    a, b = linked_pair(LOOPBACK6, socket.AF_INET6)
    with a, b:
        assert a.local_address[0] == LOOPBACK6
        frames = every_frame()[::97]
        assert exchange(a, b, frames) == frames
        assert exchange(b, a, frames) == frames


@pytest.mark.skipif(ipv6_loopback_missing() is not None, reason=str(ipv6_loopback_missing()))
def test_ipv6_peer_not_listening_is_counted() -> None:
    with UdpLink(bind=(LOOPBACK6, 0), peer=(LOOPBACK6, free_port(socket.AF_INET6, LOOPBACK6))) as link:
        link.send(b"anyone there?")
        link.send(b"anyone there?")
        assert link.receive(0.2) is None
        assert link.stats.frames_sent == 2
        assert link.stats.errors >= 1
