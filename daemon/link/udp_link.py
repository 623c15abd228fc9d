"""UDP link: one frame per datagram, for IP modems, satellite terminals and LANs.

A datagram already gives a frame what it needs from a link: it arrives whole or not at all and
carries its own length, so ``UdpLink`` sends each frame as exactly one datagram and adds no byte
of its own.  UDP may lose, duplicate or reorder datagrams; the frames' sequence numbers and CRCs
(``framing``) cope with that as they do on radio.

Unicast talks to one peer.  IPv4 multicast reaches every station that joined a group, the way a
radio net does, and lets several receivers on one host share the port.

A peer that is not listening answers with ICMP "port unreachable", which Linux reports as
``ECONNREFUSED`` on the *next* call on the socket.  Such errors are counted in ``stats.errors``
and the link carries on: a far end that is down for a while is normal on these links, not a
reason for the daemon to stop.
"""

from __future__ import annotations

import errno
import ipaddress
import selectors
import socket
import sys
import threading
import time

from ..errors import TelephraseError
from .base import Link

MAX_DATAGRAM = 1400
"""Default largest frame.  1400 bytes plus the IPv6 and UDP headers (48 bytes) stay under the
1500-byte Ethernet MTU with room for a tunnel or PPPoE header on the path, so a frame is never
split into IP fragments: losing one fragment loses the whole datagram, and many satellite
terminals and firewalls drop fragments outright."""

_LARGEST_UDP_PAYLOAD = 65507
"""65535 minus the IPv4 and UDP headers: no datagram can carry more."""

_RECEIVE_BUFFER = 65535
"""More than any UDP payload, so that an oversized datagram arrives whole, not truncated."""

_TRANSIENT = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.EHOSTDOWN,
        errno.ENETDOWN,
        errno.EAGAIN,
        errno.ENOBUFS,
    }
)
"""Errors of the network rather than of the configuration: the peer or a route is down, or a
queue is full.  They are counted and the frame concerned is lost, as a datagram can always be."""

# Linux tells an unconnected UDP socket about ICMP errors only with IP_RECVERR/IPV6_RECVERR set,
# and then also queues each one on the socket's error queue, which must be drained.  The values
# are those of <linux/in.h> and <linux/in6.h>, which older Pythons' socket module does not name.
_RECVERR = (
    {
        socket.AF_INET: (socket.IPPROTO_IP, getattr(socket, "IP_RECVERR", 11)),
        socket.AF_INET6: (socket.IPPROTO_IPV6, getattr(socket, "IPV6_RECVERR", 25)),
    }
    if sys.platform.startswith("linux")
    else {}
)


class UdpError(TelephraseError):
    """A UDP endpoint is malformed or cannot be opened, or a frame does not fit one datagram."""


def parse_endpoint(text: str) -> tuple[str, int]:
    """Split ``host:port`` or ``[IPv6-address]:port``, as written in a config file or on the
    command line, into the ``(host, port)`` that ``UdpLink`` takes.  Port 0 means any port."""
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or not rest.startswith(":"):
            raise _bad_endpoint(text, "an IPv6 address in brackets must be followed by :port")
        port = rest[1:]
    else:
        host, colon, port = text.rpartition(":")
        if not colon:
            raise _bad_endpoint(text, "the port is missing")
        if ":" in host:
            raise _bad_endpoint(text, "an IPv6 address needs brackets, as in [::1]:7300")
    if not host:
        raise _bad_endpoint(text, "the host is missing")
    if not (port.isascii() and port.isdigit()) or int(port) > 65535:
        raise _bad_endpoint(text, "the port must be a number from 0 to 65535")
    return host, int(port)


def _bad_endpoint(text: str, why: str) -> UdpError:
    return UdpError(f"bad UDP endpoint {text!r}: {why} (expected host:port, e.g. 192.0.2.7:7300 or [2001:db8::7]:7300)")


def _format(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _resolve(endpoint: tuple[str, int], family: int, role: str, passive: bool = False) -> tuple[int, tuple]:
    """Resolve once, when the link opens, so that sending never waits for a name server."""
    host, port = endpoint
    if not 0 <= port <= 65535:
        raise UdpError(f"{role} port {port} is out of range: use 0 to 65535")
    try:
        infos = socket.getaddrinfo(host, port, family, socket.SOCK_DGRAM, 0, socket.AI_PASSIVE if passive else 0)
    except socket.gaierror as e:
        wanted = {socket.AF_INET: " as IPv4, like the bind address", socket.AF_INET6: " as IPv6, like the bind address"}
        raise UdpError(f"cannot resolve {role} {_format(host, port)}{wanted.get(family, '')}: {e.strerror}") from None
    found_family, _, _, _, address = infos[0]
    return found_family, address


def _ipv4_interface(address: str | None) -> bytes:
    """The interface to join a group on and send from, as its IPv4 address; ``None``: any."""
    try:
        return ipaddress.IPv4Address(address or "0.0.0.0").packed
    except ValueError:
        raise UdpError(f"multicast_interface {address!r} must be an interface's IPv4 address") from None


class UdpLink(Link):
    """Frames over UDP, one per datagram, to a unicast peer or an IPv4 multicast group.

    ``bind`` is the local address and port (port 0: an ephemeral port, see ``local_address``);
    its address family decides between IPv4 and IPv6.  ``peer`` is where frames go; when it is
    a multicast group the link joins that group on ``multicast_interface`` (an IPv4 address;
    ``None`` lets the kernel choose from the routing table) and ``bind`` should be the group or
    the wildcard address with the group's port.  Binding to the group keeps out datagrams for
    other groups on the same port.

    ``accept_from`` keeps only datagrams from that host and port (port 0: any port of that
    host); others are dropped and counted as errors.  Without it any sender is accepted, which
    suits a peer behind NAT.  ``multicast_loop`` is off by default so that a station does not
    hear its own transmissions as incoming speech; on the loopback interface frames come back
    to the host either way.

    ``send`` and ``receive`` may be called from two threads at once.
    """

    def __init__(
        self,
        bind: tuple[str, int],
        peer: tuple[str, int],
        *,
        accept_from: tuple[str, int] | None = None,
        max_datagram: int = MAX_DATAGRAM,
        multicast_interface: str | None = None,
        multicast_ttl: int = 1,
        multicast_loop: bool = False,
    ) -> None:
        super().__init__()
        if not 0 < max_datagram <= _LARGEST_UDP_PAYLOAD:
            raise UdpError(f"max_datagram {max_datagram} is out of range: use 1 to {_LARGEST_UDP_PAYLOAD}")
        self.max_datagram = max_datagram
        family, bind_address = _resolve(bind, socket.AF_UNSPEC, "bind address", passive=True)
        _, self._peer = _resolve(peer, family, "peer")
        if self._peer[1] == 0:
            raise UdpError(f"peer {_format(*peer)} has no port: frames need a destination port from 1 to 65535")
        self._accept = None if accept_from is None else _resolve(accept_from, family, "accept_from")[1][:2]
        multicast = ipaddress.ip_address(self._peer[0]).is_multicast
        if ipaddress.ip_address(bind_address[0]).is_multicast and not multicast:
            raise UdpError(f"bind address {_format(*bind)} is a multicast group but peer {_format(*peer)} is not")
        if multicast and family != socket.AF_INET:
            raise UdpError(f"IPv6 multicast ({_format(*peer)}) is not supported: use an IPv4 group, e.g. 239.255.73.1")
        if multicast and not 0 <= multicast_ttl <= 255:
            raise UdpError(f"multicast_ttl {multicast_ttl} is out of range: use 0 to 255 (1: the local network)")
        interface = _ipv4_interface(multicast_interface) if multicast else None

        self._lock = threading.Lock()
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            # Several receivers on one host may share a group's port.  A unicast port stays
            # exclusive, so that a second daemon on it fails at once instead of taking frames.
            if multicast:
                self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family in _RECVERR:
                self._sock.setsockopt(*_RECVERR[family], 1)
            self._sock.bind(bind_address)
            if interface is not None:
                group = socket.inet_aton(self._peer[0])
                self._sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, group + interface)
                self._sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, interface)
                self._sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, multicast_ttl)
                self._sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, int(multicast_loop))
            self._sock.setblocking(False)
        except OSError as e:
            self._sock.close()
            raise UdpError(f"cannot open UDP link on {_format(*bind)} to {_format(*peer)}: {e.strerror or e}") from None
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._sock, selectors.EVENT_READ)

    def __enter__(self) -> UdpLink:
        return self

    @property
    def local_address(self) -> tuple[str, int]:
        """The bound address and port; the port is the one the kernel picked when bound to 0."""
        host, port = self._sock.getsockname()[:2]
        return host, port

    def send(self, frame: bytes) -> None:
        frame = bytes(frame)
        if len(frame) > self.max_datagram:
            raise UdpError(
                f"frame of {len(frame)} bytes does not fit one UDP datagram of at most {self.max_datagram} bytes; "
                "lower the link MTU"
            )
        # An error here is usually the ICMP answer to an earlier datagram, which the kernel
        # reports on this call instead of sending this frame; so one more try before it is lost.
        for _ in range(2):
            try:
                self._sock.sendto(frame, self._peer)
            except OSError as e:
                self._count_network_error(e)
            else:
                with self._lock:
                    self.stats.frames_sent += 1
                    self.stats.bytes_sent += len(frame)
                return

    def receive(self, timeout: float | None = 0.0) -> bytes | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                frame, source = self._sock.recvfrom(_RECEIVE_BUFFER)
            except BlockingIOError:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._selector.select(remaining)
                continue
            except OSError as e:
                self._count_network_error(e)
                continue
            if self._accept is not None and (
                source[0] != self._accept[0] or self._accept[1] not in (0, source[1])
            ):
                with self._lock:
                    self.stats.errors += 1
                continue
            with self._lock:
                self.stats.frames_received += 1
                self.stats.bytes_received += len(frame)
            return frame

    def close(self) -> None:
        self._selector.close()
        self._sock.close()

    def _count_network_error(self, error: OSError) -> None:
        """Count a transient network error, one per ICMP report queued; raise any other error."""
        if error.errno not in _TRANSIENT:
            raise UdpError(f"UDP link to {_format(*self._peer[:2])} failed: {error.strerror or error}") from error
        queued = 0
        if self._sock.family in _RECVERR:
            while True:
                try:
                    self._sock.recvmsg(1, 0, socket.MSG_ERRQUEUE)
                except BlockingIOError:
                    break
                queued += 1
        with self._lock:
            self.stats.errors += max(queued, 1)
