"""Capture and playback: audio files in and out, sound devices, and wav files standing in for them."""
