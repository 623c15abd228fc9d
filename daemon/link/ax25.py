"""AX.25 UI frames around telephrase frames, for TNCs that expect AX.25 and for the callsign
that identifies a station on amateur bands.

A KISS TNC (Dire Wolf, most hardware TNCs) puts on air what it is given between the HDLC
flags and adds the FCS itself; on the amateur bands that frame must carry the sender's
callsign.  With ``[link] ax25 = true`` every telephrase frame (``framing``, FEC included) is
the information field of one AX.25 v2.0 UI frame (AX.25 2.2, sections 3 and 6.2):

    offset  size  field
    0       7     destination address (below): ``[link] ax25_destination``, command bit 1
    7       7     source address: the station's callsign and SSID, command bit 0, last address
    14      1     control: 0x03, UI (unnumbered information, no acknowledgement)
    15      1     PID: 0xF0, no layer 3 protocol
    16      …     information: the telephrase frame

An address is six characters, the callsign in capitals padded with spaces, each shifted left
one bit, then a byte ``C 1 1 S S S S E``: C the command/response bit, the SSID (0-15), and E
set on the last address of the header.  Digipeater paths are not sent (16 bytes is already a
lot at 1200 baud); received frames that came through digipeaters are accepted, the path
skipped.  The receiver keeps only UI frames with PID 0xF0 sent to our destination: on a
shared APRS or packet channel everything else is somebody else's traffic, counted, not an
error.

Test vector (``tests/test_ax25.py``): source ``N0CALL-7``, destination ``TPHRSE``, info
``b"hi"``:

    a8 a0 90 a4 a6 8a e0  9c 60 86 82 98 98 6f  03 f0  68 69
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

from ..errors import ConfigError
from .base import Link

UI = 0x03
PID_NONE = 0xF0
ADDRESS = 7
HEADER = 2 * ADDRESS + 2
MAX_DIGIPEATERS = 8
DEFAULT_DESTINATION = "TPHRSE"
"""What telephrase frames are addressed to: a fixed group name, as APRS uses a "tocall"."""
_POLL = 0x10
_CALL = re.compile(r"^([A-Z0-9]{1,6})(?:-(\d{1,2}))?$")


@dataclass(frozen=True)
class Address:
    callsign: str
    ssid: int = 0

    def __str__(self) -> str:
        return f"{self.callsign}-{self.ssid}" if self.ssid else self.callsign


def parse_address(text: str, key: str = "link.callsign") -> Address:
    """``N0CALL`` or ``N0CALL-7`` (case ignored), or a ConfigError naming ``key``."""
    m = _CALL.match(text.strip().upper())
    if m is None or int(m.group(2) or 0) > 15:
        raise ConfigError(f"{key}: '{text}' is not a callsign: 1-6 letters and digits, optionally -SSID "
                          "with SSID 0-15 (e.g. N0CALL-7)")
    return Address(m.group(1), int(m.group(2) or 0))


def station_id_of(address: Address) -> int:
    """A 16-bit station id from a callsign and SSID, for ``[link] station_id = -1``: the
    same on every station that knows the callsign (CRC-32 of ``CALL-SSID``, low 16 bits)."""
    return zlib.crc32(f"{address.callsign}-{address.ssid}".encode("ascii")) & 0xFFFF


def _encode_address(address: Address, command: bool, last: bool) -> bytes:
    call = address.callsign.ljust(6).encode("ascii")
    return bytes(c << 1 for c in call) + bytes([command << 7 | 0x60 | address.ssid << 1 | last])


def _decode_address(data: bytes) -> tuple[Address, bool] | None:
    """An address and its extension bit, or ``None`` if the bytes are no address."""
    if any(b & 1 for b in data[:6]):
        return None
    call = bytes(b >> 1 for b in data[:6]).decode("ascii", "replace").rstrip(" ")
    if not _CALL.match(call):
        return None
    return Address(call, data[6] >> 1 & 0x0F), bool(data[6] & 1)


def ax25_encode(info: bytes, source: Address, destination: Address) -> bytes:
    """One UI frame from ``source`` to ``destination`` carrying ``info`` (no FCS: the TNC adds it)."""
    return (_encode_address(destination, True, False) + _encode_address(source, False, True)
            + bytes([UI, PID_NONE]) + bytes(info))


@dataclass(frozen=True)
class UiFrame:
    source: Address
    destination: Address
    info: bytes


def ax25_decode(frame: bytes) -> UiFrame | None:
    """The UI frame in ``frame``, or ``None`` for anything else (other frame types, other PIDs,
    malformed addresses)."""
    addresses = []
    offset = 0
    while True:
        if len(frame) < offset + ADDRESS or len(addresses) > 2 + MAX_DIGIPEATERS:
            return None
        decoded = _decode_address(frame[offset : offset + ADDRESS])
        if decoded is None:
            return None
        addresses.append(decoded[0])
        offset += ADDRESS
        if decoded[1]:
            break
    if len(addresses) < 2 or len(frame) < offset + 2 or frame[offset] & ~_POLL != UI or frame[offset + 1] != PID_NONE:
        return None
    return UiFrame(addresses[1], addresses[0], bytes(frame[offset + 2 :]))


class Ax25Link(Link):
    """``inner`` with every frame in a UI frame from ``source`` to ``destination``; received
    frames that are not UI frames to ``destination`` are counted in ``foreign`` and skipped."""

    def __init__(self, inner: Link, source: Address, destination: Address) -> None:
        super().__init__()
        self.inner = inner
        self.stats = inner.stats
        self.source = source
        self.destination = destination
        self.foreign = 0
        """Frames heard that were somebody else's traffic (other destinations, not UI)."""

    def send(self, frame: bytes) -> None:
        self.inner.send(ax25_encode(frame, self.source, self.destination))

    def receive(self, timeout: float | None = 0.0) -> bytes | None:
        while True:
            data = self.inner.receive(timeout)
            if data is None:
                return None
            ui = ax25_decode(data)
            if ui is not None and ui.destination.callsign == self.destination.callsign:
                return ui.info
            self.foreign += 1

    def close(self) -> None:
        self.inner.close()
