"""A plain text progress bar for long CLI work, written to stderr."""

import sys
import time
from typing import TextIO


class Progress:
    """`with Progress("orders", total) as bar: bar.advance(n)`. Draws in place
    on a terminal; elsewhere (logs, CI) prints one line when a stage ends."""

    width = 30

    def __init__(
        self, label: str, total: int, *, stream: TextIO | None = sys.stderr
    ) -> None:
        self.label = label
        self.total = max(total, 1)
        self.done = 0
        self.stream = stream
        self.started = time.monotonic()
        self._drawn = -1.0
        self._tty = bool(stream is not None and stream.isatty())

    def __enter__(self) -> "Progress":
        self._draw(force=True)
        return self

    def __exit__(self, *exc) -> None:
        self.done = self.total if exc[0] is None else self.done
        self._draw(force=True)
        if self.stream is not None:
            if self._tty:
                self.stream.write("\n")
            else:
                self.stream.write(self._line() + "\n")
            self.stream.flush()

    def advance(self, count: int = 1) -> None:
        self.done = min(self.total, self.done + count)
        self._draw()

    def _line(self) -> str:
        share = self.done / self.total
        filled = int(share * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        seconds = time.monotonic() - self.started
        return (
            f"{self.label:<14} [{bar}] {share:4.0%} "
            f"{self.done}/{self.total} {seconds:5.1f}s"
        )

    def _draw(self, force: bool = False) -> None:
        if not self._tty:
            return
        now = time.monotonic()
        if not force and now - self._drawn < 0.1:
            return
        self._drawn = now
        self.stream.write("\r" + self._line())
        self.stream.flush()
