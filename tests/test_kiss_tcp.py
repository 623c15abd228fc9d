"""The KISS TCP link against a real TCP server on 127.0.0.1 that goes away and comes back,
as Dire Wolf does when it restarts: frames sent meanwhile wait and go out, in order."""

from __future__ import annotations

import socket
import threading

from test_station import wait_for
from telephrase.bench.direwolf import free_port
from telephrase.link.kiss import KissDecoder, kiss_encode
from telephrase.link.kiss_tcp import KissTcpLink


class Tnc:
    """A KISS TCP server that collects what it receives and can send frames back."""

    def __init__(self, port: int | None = None) -> None:
        self.server = socket.create_server(("127.0.0.1", free_port() if port is None else port))
        self.port = self.server.getsockname()[1]
        self.frames: list[tuple[int, bytes]] = []
        self.client: socket.socket | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.client, _ = self.server.accept()
            decoder = KissDecoder()
            while data := self.client.recv(4096):
                self.frames.extend(decoder.feed(data))
        except OSError:
            pass  # closed by the test: the TNC went away

    def close(self) -> None:
        if self.client is not None:
            self.client.shutdown(socket.SHUT_RDWR)
            self.client.close()
        self.server.close()


def test_frames_both_ways_on_the_kiss_port():
    tnc = Tnc()
    link = KissTcpLink("127.0.0.1", tnc.port, kiss_port=3)
    try:
        wait_for(lambda: tnc.client is not None, 5)
        link.send(b"\xc0hello\xdb")
        wait_for(lambda: tnc.frames, 5)
        tnc.client.sendall(kiss_encode(b"other port", 1) + kiss_encode(b"for us", 3))
        heard = link.receive(5)
    finally:
        link.close()
        tnc.close()
    assert tnc.frames == [(3, b"\xc0hello\xdb")] and heard == b"for us" and link.receive() is None
    assert link.stats.frames_sent == 1 and link.stats.frames_received == 1


def test_a_tnc_that_restarts_gets_the_frames_sent_while_it_was_away():
    tnc = Tnc()
    port = tnc.port
    link = KissTcpLink("127.0.0.1", port, reconnect_interval=0.1)
    try:
        wait_for(lambda: link.connected and tnc.client is not None, 5)
        tnc.close()
        wait_for(lambda: not link.connected, 5)
        assert not link.connected
        for i in range(3):
            link.send(b"queued %d" % i)
        assert not link.connected
        tnc = Tnc(port)
        wait_for(lambda: len(tnc.frames) == 3, 10)
    finally:
        link.close()
        tnc.close()
    assert [f for _, f in tnc.frames] == [b"queued 0", b"queued 1", b"queued 2"]
    assert link.stats.errors >= 1


def test_no_tnc_yet_is_waited_for(caplog):
    port = free_port()
    link = KissTcpLink("127.0.0.1", port, reconnect_interval=0.1)
    try:
        assert not link.connected
        link.send(b"early")
        tnc = Tnc(port)
        wait_for(lambda: tnc.frames, 10)
    finally:
        link.close()
        tnc.close()
    assert tnc.frames == [(0, b"early")]
    assert any("KISS TCP server 127.0.0.1:%d is missing" % port in r.getMessage() for r in caplog.records)
