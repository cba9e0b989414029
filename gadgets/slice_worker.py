"""SliceWorker: the stages after the cine buffer, on a thread of their own, one slice after another.

A short-axis stack arrives slice after slice. Without a worker the cine node stops reading while a
slice reconstructs, so the next slice's readouts wait in the socket and everything after the last
readout is sequential. With it, the node's thread keeps buffering readouts (``CineBuffer``) while the
worker runs coil maps, reconstruction and export of the slices already complete; after the scan's
last readout only the last slice is left to do.

- One worker thread per chain: slices reconstruct in the order they were completed, so the images
  (and their order) are exactly those of the sequential chain; the worker's torch work shares the
  process's compute (a server's compute slots bound the scans, not the threads inside one).
- Bounded: at most ``depth`` completed slices wait for the worker; the buffer thread then waits too
  (back-pressure instead of unbounded memory).
- Outputs go back in order through a queue; the chain sends what is ready whenever it is called
  (each readout) and waits for the rest at the end of the stream. With ``deliver`` (the chain under
  Gadgetron: ``connection.send``) the worker hands each output over itself the moment it is made, so
  a slice's images do not wait for the next readout (a stack pauses seconds between breath-holds);
  the chain's own thread then sends nothing, so the connection has one sender. A preview series
  comes out as soon as the worker has made it, before the slice's slow method ends.
- A slice that fails (an ``Exception``) is logged and the others still run; the first failure is
  raised at the end of the stream, after every other slice's images. A cancellation (a
  ``BaseException`` such as the server's ScanStopped, raised inside a progress report) stops the
  worker and is raised at once.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator

log = logging.getLogger(__name__)

_FLUSH = object()
_DONE = object()
POLL_S = 0.5  # how often a waiting thread looks whether the other one has gone


class _Failure:
    def __init__(self, exc: BaseException, what: str):
        self.exc, self.what = exc, what


class SliceWorker:
    """``submit(item)`` work for ``run(item) -> outputs``; ``ready()`` yields outputs made so far;
    ``finish()`` runs ``flush() -> outputs`` after every item and yields the rest, then raises the
    first failure if a slice failed."""

    def __init__(self, run: Callable[[object], Iterable], flush: Callable[[], Iterable], depth: int = 2,
                 name: str = "slice-worker", deliver: Callable[[object], None] | None = None):
        self.run, self.flush_stages, self.name, self.deliver = run, flush, name, deliver
        self.tasks: queue.Queue = queue.Queue(maxsize=depth)
        self.outputs: queue.Queue = queue.Queue()
        self.thread: threading.Thread | None = None
        self.stopped = threading.Event()
        self.failure: _Failure | None = None

    # -- the chain's side -------------------------------------------------------------------------
    def submit(self, item) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self._work, name=self.name, daemon=True)
            self.thread.start()
        while True:
            self._raise_cancellation()
            try:
                self.tasks.put(item, timeout=POLL_S)
                return
            except queue.Full:
                if not self.thread.is_alive():
                    raise RuntimeError(f"{self.name} stopped") from None

    def ready(self) -> Iterator:
        """Outputs already made, without waiting."""
        while True:
            try:
                entry = self.outputs.get_nowait()
            except queue.Empty:
                return
            yield from self._take(entry)

    def finish(self) -> Iterator:
        """Every remaining output, the flush included; waits for the worker."""
        if self.thread is None:  # no slice at all: the stages' flush runs here
            for out in self.flush_stages():
                if self.deliver is None:
                    yield out
                else:
                    self.deliver(out)
            return
        self.submit(_FLUSH)
        while True:
            try:
                entry = self.outputs.get(timeout=POLL_S)
            except queue.Empty:
                if not self.thread.is_alive() and self.outputs.empty():
                    raise RuntimeError(f"{self.name} ended without finishing") from None
                continue
            if entry is _DONE:
                break
            yield from self._take(entry)
        self.thread.join(timeout=10)
        if self.failure is not None:
            raise self.failure.exc

    def close(self) -> None:
        """Stop the worker (it drops what it has not started)."""
        self.stopped.set()

    def _take(self, entry) -> Iterator:
        if not isinstance(entry, _Failure):
            yield entry
            return
        if not isinstance(entry.exc, Exception):  # a cancellation: nothing more is wanted
            self.failure = entry
            self._raise_cancellation()
        # A warning: the scan's failure is raised at the end and its host logs that as the one ERROR line.
        log.warning("%s failed: %s; the other slices go on", entry.what, entry.exc)
        if self.failure is None:
            self.failure = entry

    def _raise_cancellation(self) -> None:
        if self.failure is not None and not isinstance(self.failure.exc, Exception):
            self.stopped.set()
            raise self.failure.exc

    # -- the worker thread ------------------------------------------------------------------------
    def _work(self) -> None:
        cancelled = False
        while not self.stopped.is_set():
            try:
                task = self.tasks.get(timeout=POLL_S)
            except queue.Empty:
                continue
            if task is _FLUSH:
                if not cancelled:
                    self._produce(self.flush_stages, "the end of the stream")
                self.outputs.put(_DONE)
                return
            if not cancelled:
                cancelled = not self._produce(lambda task=task: self.run(task), _describe(task))

    def _produce(self, make: Callable[[], Iterable], what: str) -> bool:
        """Outputs of ``make()`` into the queue as they come; False after a cancellation."""
        try:
            for out in make():
                if self.deliver is None:
                    self.outputs.put(out)
                else:
                    self.deliver(out)
        except Exception as exc:  # noqa: BLE001 - one slice's failure must not lose the others
            self.outputs.put(_Failure(exc, what))
        except BaseException as exc:  # noqa: BLE001 - a cancellation, handed to the chain's thread
            self.outputs.put(_Failure(exc, what))
            return False
        return True


def _describe(item) -> str:
    index = getattr(item, "slice", None)
    return f"slice {index}" if index is not None else type(item).__name__
