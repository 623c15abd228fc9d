"""Benchmarks and their reports: corpus round trips, link, languages, pitch, latency, fidelity and the codec baselines.  Nothing on a station's runtime path imports these."""
