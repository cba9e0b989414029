"""Short-axis stacks: ``simulate --slices N`` writes one as a scanner does, and replay, the loopback
server (``emulate``) and ``evaluate`` take it; each slice of a stack reconstructs exactly as that
slice replayed alone (``simulate --only-slice K``)."""

import json

import h5py
import ismrmrd
import numpy as np
import pytest

from pipelines.cli import main
from pipelines.files.ismrmrd_io import open_raw, read_images
from pipelines.files.raw_writer import Protocol
from pipelines.streaming import protocol
from pipelines.streaming.emulator import chain_text, stream
from pipelines.streaming.host import Pipeline
from pipelines.streaming.server import Server

SLICES = 3
TINY = dict(matrix=32, frames=4, coils=4, realistic="", slices=SLICES)
CARTESIAN = dict(TINY, pattern="kt-uniform", acceleration=4)
RADIAL = dict(TINY, trajectory="radial", spokes=8)
SETTINGS = {"method": "cg-sense", "device": "cpu", "calibration_width": "12"}
# The same readouts through the same float32 code: only the order of floating-point operations may
# differ between a stack and one slice (none does today); 1e-5 is far above float32 rounding (1e-7).
SAME = 1e-5


def _simulate(path, **opts):
    argv = ["simulate", "-o", str(path)]
    for key, value in opts.items():
        argv += [f"--{key.replace('_', '-')}"] + ([str(value)] if value != "" else [])
    assert main(argv) == 0
    return path


def _rows(path):
    with h5py.File(path, "r") as f:
        return f["dataset/xml"][0], f["dataset/data"]["head"][()], {k: f["reference"][k][()] for k in f["reference"]}


def _flag(heads, bit):
    return (heads["flags"] & np.uint64(1 << (bit - 1))) != 0


@pytest.fixture(scope="module", params=["cartesian", "radial"])
def stack(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"stack_{request.param}")
    opts = CARTESIAN if request.param == "cartesian" else RADIAL
    whole = _simulate(folder / "stack.h5", **opts)
    alone = [_simulate(folder / f"slice{k}.h5", only_slice=k, **opts) for k in range(SLICES)]
    return request.param, whole, alone


def test_stack_is_written_as_a_scanner_acquires_it(stack):
    trajectory, path, _ = stack
    xml, heads, reference = _rows(path)
    header = ismrmrd.xsd.CreateFromDocument(xml)
    assert header.encoding[0].encodingLimits.slice.maximum == SLICES - 1
    noise = _flag(heads, ismrmrd.ACQ_IS_NOISE_MEASUREMENT)
    assert noise[:32].all() and not noise[32:].any()  # one noise scan, before the first slice
    imaging = heads[~noise]
    slices = imaging["idx"]["slice"].astype(int)
    assert (np.diff(slices) >= 0).all() and sorted(set(slices)) == list(range(SLICES))  # slice after slice
    first, last = _flag(imaging, ismrmrd.ACQ_FIRST_IN_SLICE), _flag(imaging, ismrmrd.ACQ_LAST_IN_SLICE)
    starts = np.flatnonzero(np.diff(slices, prepend=-1))
    ends = np.append(starts[1:] - 1, len(slices) - 1)
    assert np.flatnonzero(first).tolist() == starts.tolist()
    assert np.flatnonzero(last).tolist() == ends.tolist()
    assert np.flatnonzero(_flag(imaging, ismrmrd.ACQ_LAST_IN_MEASUREMENT)).tolist() == [len(slices) - 1]
    assert (np.diff(heads["acquisition_time_stamp"].astype(np.int64)) >= 0).all()
    # Geometry: one orientation, centres thickness + gap apart along slice_dir.
    for name in ("read_dir", "phase_dir", "slice_dir"):
        assert np.ptp(imaging[name], axis=0).max() == 0
    centres = np.array([imaging["position"][slices == k][0] for k in range(SLICES)], dtype=np.float64)
    step = np.diff(centres, axis=0) / (Protocol.slice_thickness_mm + Protocol.slice_gap_mm)
    assert np.allclose(step, imaging["slice_dir"][0], atol=1e-5)
    # Truth per slice: each slice its own anatomy and coil maps, one receiver (noise covariance).
    assert reference["images"].shape == (SLICES, 4, 32, 32)
    assert reference["coil_maps"].shape == (SLICES, 4, 32, 32)
    assert reference["noise_covariance"].shape == (4, 4)
    for k in range(1, SLICES):
        assert not np.allclose(np.abs(reference["images"][k]), np.abs(reference["images"][0]), atol=1e-2)
        assert not np.allclose(reference["coil_maps"][k], reference["coil_maps"][0], atol=1e-2)
    if trajectory == "cartesian":
        assert reference["mask"].shape == (SLICES, 4, 32)


def test_one_slice_of_a_stack_written_alone(stack):
    _, path, alone = stack
    _, heads, _ = _rows(path)
    for k, single in enumerate(alone):
        _, own, _ = _rows(single)
        noise = _flag(own, ismrmrd.ACQ_IS_NOISE_MEASUREMENT)
        assert noise.sum() == 32 and set(own["idx"]["slice"][~noise]) == {k}
        in_stack = heads[(heads["idx"]["slice"] == k) & ~_flag(heads, ismrmrd.ACQ_IS_NOISE_MEASUREMENT)]
        assert np.array_equal(own["scan_counter"][~noise], in_stack["scan_counter"])
        assert _flag(own, ismrmrd.ACQ_LAST_IN_MEASUREMENT)[-1]


def _by_slice(images):
    out = {}
    for image in images:
        out.setdefault(image.slice, []).append(image)
    return out


def _rel_l2(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _replay(path):
    raw = open_raw(path)
    return list(Pipeline.load("cartesian" if raw.trajectory == "cartesian" else "radial", dict(SETTINGS))
                .run(raw.header, raw.acquisitions()))


@pytest.mark.timeout(120)
def test_replay_and_emulate_of_a_stack_equal_each_slice_alone(stack):
    trajectory, path, alone = stack
    replayed = _replay(path)
    assert len(replayed) == SLICES * 4
    raw = open_raw(path)
    server = Server("127.0.0.1", 0, timeout_s=30).start()
    try:
        session = stream(raw, protocol.config_text(chain_text(raw.trajectory, SETTINGS)), port=server.port,
                         timeout_s=60)
    finally:
        server.stop()
    assert session.errors == [] and session.closed and len(session.images) == SLICES * 4
    positions = {}
    for images in (replayed, session.images):
        by_slice = _by_slice(images)
        assert sorted(by_slice) == list(range(SLICES))
        assert {i.image_series_index for i in images} == {1}  # one series across the stack
        assert sorted(i.image_index for i in images) == list(range(1, SLICES * 4 + 1))
        for k, single in enumerate(alone):
            own = _by_slice(_replay(single))[k]
            got = sorted(by_slice[k], key=lambda i: i.phase)
            assert [i.phase for i in got] == [i.phase for i in own] == list(range(4))
            assert _rel_l2([i.data for i in got], [i.data for i in own]) <= SAME
            assert all(tuple(i.position) == tuple(own[0].position) for i in got)
            positions.setdefault(k, tuple(got[0].position))
    assert len(set(positions.values())) == SLICES  # each slice at its own place


def test_evaluate_scores_each_slice_and_the_stack(stack, tmp_path, capsys):
    _, path, alone = stack
    out = tmp_path / "images.h5"
    assert main(["replay", str(path), "-o", str(out), "--no-progress",
                 *[a for k, v in SETTINGS.items() for a in ("--set", f"{k}={v}")]]) == 0
    assert len(read_images(out)[0].headers) == SLICES * 4
    capsys.readouterr()
    assert main(["evaluate", str(out), "--reference", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] == SLICES * 4 and [s["slice"] for s in summary["slices"]] == list(range(SLICES))
    assert all(s["frames"] == 4 for s in summary["slices"])
    # The stack's figure is over every frame: its mean PSNR is the mean of the slices' means.
    assert summary["psnr_mean"] == pytest.approx(np.mean([s["psnr_mean"] for s in summary["slices"]]), rel=1e-6)
    # One slice replayed alone scores as that slice of the stack.
    single = tmp_path / "single.h5"
    assert main(["replay", str(alone[1]), "-o", str(single), "--no-progress",
                 *[a for k, v in SETTINGS.items() for a in ("--set", f"{k}={v}")]]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(single), "--reference", str(alone[1]), "--json"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert one["frames"] == 4 and "slices" not in one
    assert one["psnr_mean"] == pytest.approx(summary["slices"][1]["psnr_mean"], rel=1e-5)


def test_bad_stack_options_exit_2_without_output(tmp_path, capsys):
    for opts, words in (({"slices": 0}, "--slices must be between"), ({"slices": 2, "only_slice": 2}, "--only-slice")):
        path = tmp_path / "x.h5"
        argv = ["simulate", "-o", str(path), "--matrix", "32", "--frames", "2", "--coils", "2"]
        argv += [a for k, v in opts.items() for a in (f"--{k.replace('_', '-')}", str(v))]
        assert main(argv) == 2
        assert words in capsys.readouterr().err and not path.exists()


def test_distributed_chain_in_process_equals_the_single_chain(stack):
    """``*_distributed.xml`` in the embedded host: one inner chain per slice, each fed the noise scan
    by NoiseToEverySlice, gives the single chain's images exactly."""
    trajectory, path, _ = stack
    raw = open_raw(path)
    pipeline = Pipeline.load(f"{trajectory}_distributed", dict(SETTINGS))
    assert [n.module for n in pipeline.leaves] == ["gadgets.slice_noise", "gadgets.noise", "gadgets.oversampling",
                                                   "gadgets.cine_reconstruction"]
    distributed = list(pipeline.run(raw.header, raw.acquisitions()))
    single = _by_slice(_replay(path))
    assert sorted(_by_slice(distributed)) == list(range(SLICES))
    for k, images in _by_slice(distributed).items():
        assert [i.phase for i in images] == [i.phase for i in single[k]]
        assert _rel_l2([i.data for i in images], [i.data for i in single[k]]) == 0


def test_noise_reaches_every_slice_once(stack):
    from gadgets.slice_noise import NoiseToEverySlice

    _, path, _ = stack
    raw = open_raw(path)
    gadget = NoiseToEverySlice({}, raw.header)
    out = [o for a in raw.acquisitions() for o in gadget.process(a)]
    noise = [o for o in out if o.is_flag_set(ismrmrd.ACQ_IS_NOISE_MEASUREMENT)]
    assert len(noise) == 32 * SLICES
    counts = np.bincount([o.idx.slice for o in noise])
    assert counts.tolist() == [32] * SLICES
    assert all(np.array_equal(noise[SLICES * i + k].data, noise[SLICES * i].data) for i in range(32)
               for k in range(SLICES))
    assert len(out) - len(noise) == raw.count - 32  # the imaging readouts pass unchanged


@pytest.mark.timeout(120)
def test_the_connect_mode_worker_takes_a_stack(stack):
    """``gadgetron-inr worker`` (the cine node in connect mode, the test playing Gadgetron): a stack's
    images, sent from the node's slice worker as they are made, equal the node run in-process."""
    import socket
    import struct
    import threading

    from gadgets.cine_reconstruction import CineReconstruction
    from gadgets.front_end import ACQUISITION_STAGES
    from pipelines.streaming.worker import Worker, load_target

    _, path, _ = stack
    raw = open_raw(path)
    items = list(raw.acquisitions())
    for stage in [cls({}, raw.header) for cls in ACQUISITION_STAGES]:  # what Gadgetron's first nodes send on
        items = [o for i in items for o in stage.process(i)] + list(stage.flush())
    config = "<configuration>" + "".join(f'<property name="{k}" value="{v}"/>' for k, v in SETTINGS.items()) + \
        "</configuration>"
    expected = list(CineReconstruction(dict(SETTINGS), raw.header).stream(items))
    worker = Worker(load_target("gadgets.cine_reconstruction:CineReconstruction"), port=0, timeout_s=30)
    thread = threading.Thread(target=worker.serve_forever, daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", worker.port), timeout=60) as sock:
            sock.settimeout(60)
            sock.sendall(struct.pack("<HI", 2, len(config)) + config.encode()
                         + struct.pack("<HI", 3, len(raw.header_xml)) + raw.header_xml
                         + b"".join(protocol.item(a) for a in items) + protocol.close())
            reader, replies = protocol.SocketReader(sock), []
            while (message := protocol.read_message(reader))[0] != protocol.CLOSE:
                replies.append(message)
    finally:
        worker.stopping.set()
        thread.join(timeout=10)
    assert [m for m, _ in replies] == [protocol.IMAGE] * SLICES * 4
    for (_, got), want in zip(replies, expected, strict=True):
        assert (got.slice, got.phase) == (want.slice, want.phase) and np.array_equal(got.data, want.data)
