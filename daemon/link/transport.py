"""The link a configuration names: UDP, serial or KISS over TCP, in AX.25 if asked, opened
for the daemon.

Kept apart from ``link`` (the interface) so that the interface module does not import every
transport, and the transports do not import the configuration.
"""

from __future__ import annotations

from ..config import LinkConfig
from ..errors import ConfigError
from .ax25 import Ax25Link, parse_address
from .base import Link
from .kiss_tcp import KissTcpLink
from .serial_link import SerialLink
from .udp_link import UdpLink, parse_endpoint

TRANSPORTS = ("udp", "serial", "kiss-tcp")


def open_link(config: LinkConfig) -> Link:
    """Open the configured link; a serial device or TNC that is missing now is waited for (the
    link reopens it), an unusable UDP address is an error at once."""
    link = _transport(config)
    if config.ax25:
        return Ax25Link(link, parse_address(config.callsign), parse_address(config.ax25_destination,
                                                                            "link.ax25_destination"))
    return link


def _transport(config: LinkConfig) -> Link:
    if config.transport == "udp":
        return UdpLink(parse_endpoint(config.udp_bind), parse_endpoint(config.udp_peer))
    if config.transport == "serial":
        return SerialLink(config.serial_device, config.serial_baud, config.serial_mode, config.kiss_port)
    if config.transport == "kiss-tcp":
        host, port = parse_endpoint(config.kiss_host)
        return KissTcpLink(host, port, config.kiss_port)
    raise ConfigError(f"link.transport: unknown transport '{config.transport}' (choose {', '.join(TRANSPORTS)})")


def describe(config: LinkConfig) -> str:
    """One line for logs and status: what the frames travel over."""
    ax25 = f", AX.25 from {config.callsign}" if config.ax25 else ""
    if config.transport == "udp":
        return f"UDP {config.udp_bind} -> {config.udp_peer}{ax25}"
    if config.transport == "kiss-tcp":
        return f"KISS TCP {config.kiss_host} (KISS port {config.kiss_port}){ax25}"
    return f"serial {config.serial_device} at {config.serial_baud} baud ({config.serial_mode}){ax25}"
