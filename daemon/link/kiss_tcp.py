"""A ``Link`` to a KISS TNC over TCP: Dire Wolf's KISS port (8001) and TNCs that serve one.

The byte stream is the same KISS as on a serial line (``kiss``), so this is the serial link
with a TCP connection where the port was: it reconnects the same way when the TNC restarts,
and keeps what is sent meanwhile in the same bounded backlog.
"""

from __future__ import annotations

import socket

from .serial_link import SerialLink

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 0.1
CHUNK = 4096


class _Connection:
    """A TCP connection with the part of pyserial's interface the serial link uses."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
        if self.sock.getsockname() == self.sock.getpeername():
            # Nothing listens on a port in the ephemeral range, and TCP connected the socket to
            # itself (simultaneous open): that is no TNC.
            self.sock.close()
            raise ConnectionRefusedError(f"nothing listens on {host}:{port}")
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(READ_TIMEOUT)

    @property
    def in_waiting(self) -> int:
        return CHUNK

    def read(self, size: int) -> bytes:
        try:
            data = self.sock.recv(size)
        except TimeoutError:
            return b""
        if not data:
            raise ConnectionResetError("the TNC closed the connection")
        return data

    def write(self, data: bytes) -> None:
        self.sock.settimeout(CONNECT_TIMEOUT)
        try:
            self.sock.sendall(data)
        finally:
            self.sock.settimeout(READ_TIMEOUT)

    def close(self) -> None:
        self.sock.close()


class KissTcpLink(SerialLink):
    """Frames to and from KISS port ``kiss_port`` of the TNC at ``host:port``."""

    kind = "KISS TCP server"

    def __init__(self, host: str, port: int, kiss_port: int = 0, reconnect_interval: float = 1.0) -> None:
        self.host, self.port = host, port
        super().__init__(f"{host}:{port}", mode="kiss", kiss_port=kiss_port, reconnect_interval=reconnect_interval)

    def _open(self) -> _Connection:
        return _Connection(self.host, self.port)
