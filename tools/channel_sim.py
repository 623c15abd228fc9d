#!/usr/bin/env python3
"""Channel simulator for .tph streams: damage them the way a radio link would.

Reads raw-stream records (what ``telephrase encode`` writes) on stdin, passes each record,
sync word and length included, through ``telephrase.channel.Channel`` and writes what a
receiver would hear to stdout, so tools compose like codec2's::

    telephrase encode speech.wav -o - | tools/channel_sim.py --ber 1e-3 | telephrase decode - -o heard.wav

A lost record is simply missing from the output; air time and damage are reported on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys

from telephrase.channel import ChannelConfig, ChannelError, Channel
from telephrase.rawstream import RawStreamDecoder, raw_encode


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ber", type=float, default=0.0, help="bit error rate (average, with --burst)")
    p.add_argument("--burst", type=float, default=0.0, metavar="BITS",
                   help="bursty errors (Gilbert-Elliott) with fades this many bits long on average")
    p.add_argument("--loss", type=float, default=0.0, help="probability that a frame is lost")
    p.add_argument("--bandwidth", type=float, default=0.0, metavar="BPS", help="bit rate on air, for air time")
    p.add_argument("--latency", type=float, default=0.0, metavar="SECONDS", help="delay added to every frame")
    p.add_argument("--seed", type=int, default=0, help="seed of the random errors")
    args = p.parse_args(argv)
    common = dict(loss=args.loss, bandwidth_bps=args.bandwidth, latency=args.latency, seed=args.seed)
    try:
        config = (ChannelConfig.gilbert_elliott(args.ber, args.burst, **common) if args.burst
                  else ChannelConfig(ber=args.ber, **common))
    except ChannelError as e:
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
