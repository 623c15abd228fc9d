"""Frames on and off the air: framing, FEC, erasure coding, authentication, the transports (UDP, serial KISS and raw stream, in memory) and the channel simulator."""
