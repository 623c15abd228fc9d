"""The one error an exporter raises on bad input: its message is the whole story for the user."""


class ExportError(Exception):
    """An export that cannot go on: one line saying what is wrong and how to fix it."""
