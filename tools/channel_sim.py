#!/usr/bin/env python3
"""Channel simulator for .tph streams: damage them the way a radio link would.

Reads raw-stream records (what ``telephrase encode`` writes) on stdin, passes each record,
sync word and length included, through ``telephrase.link.channel.Channel`` and writes what a
receiver would hear to stdout, so tools compose like codec2's::

    telephrase encode speech.wav -o - | tools/channel_sim.py --ber 1e-3 | telephrase decode - -o heard.wav

A lost record is simply missing from the output; air time and damage are reported on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys

from telephrase.cli.options import add_channel_options, channel_config
from telephrase.errors import TelephraseError
from telephrase.link.channel import Channel
from telephrase.link.rawstream import RawStreamDecoder, raw_encode


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_channel_options(p)
    args = p.parse_args(argv)
    try:
        config = channel_config(args)
    except TelephraseError as e:
        print(f"channel_sim: error: {e}", file=sys.stderr)
        return 2
    channel = Channel(config)
    records = RawStreamDecoder().feed(sys.stdin.buffer.read())
    arrival = 0.0
    for frame in records:
        delivery = channel.transmit(raw_encode(frame))
        arrival = delivery.arrival_time
        if delivery.data is not None:
            sys.stdout.buffer.write(delivery.data)
    sys.stdout.buffer.flush()
    s = channel.stats
    print(json.dumps({"frames": s.frames, "lost": s.lost, "bits_flipped": s.bits_flipped, "bytes": s.bytes,
                      "air_seconds": round(s.air_seconds, 3), "last_arrival": round(arrival, 3)}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
