"""The long-running station: its threads, systemd integration, push-to-talk and the message log."""
