"""SliceWorker: the stages after the cine buffer on a thread of their own (gadgets.slice_worker)."""

import threading

import pytest

from gadgets.base import GadgetError
from gadgets.slice_worker import SliceWorker


class Cancelled(BaseException):
    pass


def _worker(run, flush=lambda: ["flushed"], depth=2):
    return SliceWorker(run, flush, depth=depth)


@pytest.mark.timeout(30)
def test_outputs_in_order_with_the_flush_last():
    worker = _worker(lambda item: [item, item + 0.5])
    out = []
    for item in range(4):
        worker.submit(item)
        out += list(worker.ready())
    out += list(worker.finish())
    assert out == [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, "flushed"]


@pytest.mark.timeout(30)
def test_the_next_slice_is_buffered_while_one_reconstructs():
    """The chain's thread hands slice 1 over while slice 0 is still being reconstructed."""
    handed_over = threading.Event()
    seen = []

    def run(item):
        if item == 0:
            seen.append(handed_over.wait(timeout=10))  # slice 0 ends only once slice 1 was submitted
        yield item

    worker = _worker(run)
    worker.submit(0)
    worker.submit(1)
    handed_over.set()
    assert list(worker.finish()) == [0, 1, "flushed"] and seen == [True]


@pytest.mark.timeout(30)
def test_a_failing_slice_loses_no_other_slice():
    def run(item):
        if item == 1:
            raise GadgetError("slice 1: calibration too small")
        yield item

    worker = _worker(run)
    out = []
    for item in range(3):
        worker.submit(item)
    with pytest.raises(GadgetError, match="slice 1: calibration too small"):
        for image in worker.finish():
            out.append(image)
    assert out == [0, 2, "flushed"]


@pytest.mark.timeout(30)
def test_a_cancellation_stops_the_worker_at_once():
    ran = []

    def run(item):
        ran.append(item)
        if item == 0:
            raise Cancelled("the client closed the connection")
        yield item

    worker = _worker(run)
    worker.submit(0)
    with pytest.raises(Cancelled):
        for _ in range(100):
            worker.submit(1)  # raises once the worker has reported the cancellation
            list(worker.ready())
        list(worker.finish())
    assert ran == [0]  # nothing runs after the cancellation


@pytest.mark.timeout(30)
def test_deliver_hands_outputs_over_from_the_worker():
    """Under Gadgetron the worker sends each output itself, at once: the chain's thread sends none."""
    delivered, threads = [], set()

    def deliver(item):
        delivered.append(item)
        threads.add(threading.current_thread().name)

    worker = SliceWorker(lambda item: [item], lambda: ["flushed"], name="w", deliver=deliver)
    worker.submit(0)
    worker.submit(1)
    assert list(worker.finish()) == [] and delivered == [0, 1, "flushed"] and threads == {"w"}
