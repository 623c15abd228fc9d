"""The link a configuration names: UDP or serial, opened for the daemon.

Kept apart from ``link`` (the interface) so that the interface module does not import every
transport, and the transports do not import the configuration.
"""

from __future__ import annotations

from ..config import LinkConfig
from ..errors import ConfigError
from .base import Link
from .serial_link import SerialLink
from .udp_link import UdpLink, parse_endpoint

TRANSPORTS = ("udp", "serial")


def open_link(config: LinkConfig) -> Link:
    """Open the configured link; a serial device that is missing now is waited for (the link
    reopens it), an unusable UDP address is an error at once."""
    if config.transport == "udp":
        return UdpLink(parse_endpoint(config.udp_bind), parse_endpoint(config.udp_peer))
    if config.transport == "serial":
        return SerialLink(config.serial_device, config.serial_baud, config.serial_mode, config.kiss_port)
    raise ConfigError(f"link.transport: unknown transport '{config.transport}' (choose {', '.join(TRANSPORTS)})")


def describe(config: LinkConfig) -> str:
    """One line for logs and status: what the frames travel over."""
    if config.transport == "udp":
        return f"UDP {config.udp_bind} -> {config.udp_peer}"
    return f"serial {config.serial_device} at {config.serial_baud} baud ({config.serial_mode})"
