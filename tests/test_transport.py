"""transport: the configured link, opened for real (UDP on 127.0.0.1, serial on a pty)."""

import os
import pty

import pytest

from telephrase.config import LinkConfig
from telephrase.errors import ConfigError
from telephrase.link.transport import describe, open_link


def test_udp_link_from_config():
    a = open_link(LinkConfig(udp_bind="127.0.0.1:0", udp_peer="127.0.0.1:9"))
    with a:
        host, port = a.local_address
        with open_link(LinkConfig(udp_bind="127.0.0.1:0", udp_peer=f"{host}:{port}")) as b:
            b.send(b"frame")
            assert a.receive(timeout=2.0) == b"frame"


def test_serial_link_from_config():
    master, slave = pty.openpty()
    try:
        link = open_link(LinkConfig(transport="serial", serial_device=os.ttyname(slave), serial_baud=38400))
        with link:
            link.send(b"\x01\x02")
            assert os.read(master, 64) == b"\xc0\x00\x01\x02\xc0"
    finally:
        os.close(master)
        os.close(slave)


def test_unknown_transport_is_a_clear_error():
    with pytest.raises(ConfigError, match="link.transport: unknown transport 'lora'"):
        open_link(LinkConfig(transport="lora"))


def test_description():
    assert describe(LinkConfig()) == "UDP 0.0.0.0:7373 -> 239.255.73.1:7373"
    assert "KISS" not in describe(LinkConfig(transport="serial")) and "9600 baud" in describe(LinkConfig(transport="serial"))
