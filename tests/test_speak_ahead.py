"""The station's speaker renders the next phrase of a message while the one before plays."""

from __future__ import annotations

import threading
import time

import pytest

from telephrase.station.station import RenderError, _ahead


def test_the_next_piece_renders_while_one_plays_but_no_further() -> None:
    rendered: list[int] = []
    started = threading.Event()

    def pieces():
        for i in range(4):
            rendered.append(i)
            started.set()
            yield i

    out = _ahead(pieces())
    assert next(out) == 0
    deadline = time.monotonic() + 5
    while len(rendered) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    assert rendered == [0, 1]  # the one playing and the one rendered next
    assert list(out) == [1, 2, 3]


def test_an_error_rendering_a_piece_is_raised_where_it_is_taken() -> None:
    def pieces():
        yield "first"
        raise RuntimeError("voice failed")

    out = _ahead(pieces())
    assert next(out) == "first"
    with pytest.raises(RenderError, match="voice failed"):
        next(out)


def test_closing_early_lets_the_render_thread_go() -> None:
    def pieces():
        i = 0
        while True:
            yield i
            i += 1

    before = threading.active_count()
    out = _ahead(pieces())
    assert next(out) == 0
    out.close()
    deadline = time.monotonic() + 5
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threading.active_count() == before
