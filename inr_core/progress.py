"""Progress of long work, readable wherever stderr goes.

One object, :class:`Progress`, used by every long-running part (``replay``, ``train``, the server, the
gadgets under Gadgetron). It is also the methods' ``progress(done, total, message)`` callback.

- stderr is a terminal: a tqdm bar, refreshed in place (a person is watching).
- anywhere else (a file, a pipe, CI, Gadgetron's log): plain log lines, never a carriage return. One
  line when a stage starts; during a long loop at most one line every ``every_s`` seconds, with the
  step and an estimate of the time left; a closing line only for a loop that printed such lines.

A *loop* is a run of calls whose ``total`` stays the same and whose ``done`` grows; a call with
another total, or a ``done`` that does not grow, starts the next stage (coil maps, then the method's
iterations, then the next slice).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import Any

EVERY_S = 5.0  # at most one line per long loop this often: a log stays readable, a stuck run is visible

log = logging.getLogger(__name__)


def stderr_is_terminal() -> bool:
    isatty = getattr(sys.stderr, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # closed stream
        return False


def duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``1 h 02 min``: short, and the same everywhere."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Progress:
    """``Progress(label, total=None, unit="")``; call it as the methods' callback, ``advance(n)`` to count
    items (readouts, training steps), use it as a context manager (``close`` at the end).

    ``terminal`` (default: whether stderr is a terminal) chooses the bar or the lines; ``enabled=False``
    reports nothing; ``logger``/``level`` say where the lines go; ``clock`` is for tests."""

    def __init__(self, label: str, total: int | None = None, unit: str = "it", *, initial: int = 0,
                 enabled: bool = True, terminal: bool | None = None, every_s: float = EVERY_S,
                 logger: logging.Logger | None = None, level: int = logging.INFO,
                 clock: Callable[[], float] = time.monotonic):
        self.label, self.total, self.unit = label, total, unit
        self.enabled = enabled
        self.terminal = stderr_is_terminal() if terminal is None else terminal
        self.every_s = every_s
        self.log = logger or log
        self.level = level
        self.clock = clock
        self.count = self.count_first = initial
        self.counting = False
        self.count_started = self.count_line = clock()
        self.loop: tuple[int, int] | None = None  # (total, last done) of the callback's current loop
        self.loop_started = self.loop_line = 0.0
        self.loop_first = 0  # the loop's first ``done``: the time per step is measured from there
        self.loop_lines = 0
        self.bar = None
        self._redirect: Any = None  # tqdm's logging redirect while a bar is shown
        if enabled and self.terminal:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=initial, unit=unit, desc=label, file=sys.stderr, dynamic_ncols=True)

    # -- as a context manager: on a terminal, log lines go above the bar instead of breaking it ---------
    def __enter__(self) -> Progress:
        if self.bar is not None:
            from tqdm.contrib.logging import logging_redirect_tqdm

            self._redirect = logging_redirect_tqdm()
            self._redirect.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._redirect is not None:
            self._redirect.__exit__(None, None, None)
            self._redirect = None
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        self._end_loop()

    def _line(self, text: str) -> None:
        self.log.log(self.level, "%s", f"{self.label}: {text}" if self.label else text)

    # -- counting items ----------------------------------------------------------------------------------
    def advance(self, n: int = 1, message: str = "") -> None:
        if not self.enabled:
            return
        self.count += n
        if self.bar is not None:
            self.bar.update(n)
            if message:
                self.bar.set_postfix_str(message, refresh=False)
            return
        now = self.clock()
        if not self.counting:  # the first item: time per item counts from here, not from set-up
            self.counting, self.count_first = True, self.count
            self.count_started = self.count_line = now
        elif now - self.count_line >= self.every_s:
            self.count_line = now
            of = f"/{self.total}" if self.total else ""
            eta = self._eta(self.count, self.count_first, self.total, self.count_started, now)
            self._line(f"{self.count}{of} {self.unit}{eta}"
                       + (f", {message}" if message else ""))

    # -- the methods' callback -----------------------------------------------------------------------------
    def __call__(self, done: int, total: int, message: str = "") -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.set_postfix_str(message or f"{done}/{total}", refresh=True)
            return
        now = self.clock()
        text = message or f"{done}/{total}"
        if self.loop is None or total != self.loop[0] or done <= self.loop[1]:
            self._end_loop()
            self.loop, self.loop_first, self.loop_lines = (total, done), done, 0
            self.loop_started = self.loop_line = now
            self._line(text)  # one line per stage
            return
        self.loop = (total, done)
        if now - self.loop_line >= self.every_s and done < total:
            self.loop_line = now
            self.loop_lines += 1
            self._line(f"{text}{self._eta(done, self.loop_first, total, self.loop_started, now)}")
        elif done >= total:
            self._end_loop(now, text)

    def _end_loop(self, now: float | None = None, text: str = "") -> None:
        """A loop that printed progress lines says when it ends; a short one has said enough."""
        if self.loop is not None and self.loop_lines:
            now = self.clock() if now is None else now
            self._line(f"{text or 'done'} (after {duration(now - self.loop_started)})")
        self.loop, self.loop_lines = None, 0

    @staticmethod
    def _eta(done: int, first: int, total: int | None, started: float, now: float) -> str:
        if not total or done <= first or done >= total:
            return ""
        return f", ETA {duration((now - started) / (done - first) * (total - done))}"
