"""Seeded mutations of ISMRMRD raw files for the replay fuzz suite (``test_fuzz_replay.py``).

Every mutation reads a valid source file, changes one thing (a header value, acquisition header
fields, the samples, the order of the readouts, or the file's bytes) and writes a new file. A
mutation is a ``(category, name, function)``; the function takes ``(src, dst, rng)``.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import h5py
import numpy as np

CATEGORIES = ("header", "indices", "fields", "data", "ordering", "file")


# -- helpers ------------------------------------------------------------------------------------
def _read(src: Path):
    with h5py.File(src, "r") as f:
        group = "dataset"
        xml = bytes(f[group]["xml"][0]).decode()
        data = f[group]["data"][()]
        dtype = f[group]["data"].dtype
        extra = {name: f[group][name][()] for name in f[group] if name not in ("xml", "data")}
    return xml, data, dtype, extra


def _write(dst: Path, xml: str, data, dtype, extra=None) -> None:
    with h5py.File(dst, "w") as f:
        group = f.create_group("dataset")
        group.create_dataset("xml", data=np.array([xml.encode()], dtype=h5py.string_dtype(encoding="utf-8")))
        group.create_dataset("data", data=data, dtype=dtype, maxshape=(None,), chunks=True)
        for name, value in (extra or {}).items():
            group.create_dataset(name, data=value)


def _imaging(data) -> np.ndarray:
    """Indices of the readouts that are not noise (flag 19) - the ones mutations aim at."""
    flags = data["head"]["flags"].astype(np.uint64)
    return np.flatnonzero((flags & np.uint64(1 << 18)) == 0)


def _xml_sub(pattern: str, repl: str, count: int = 1):
    def mutate(src, dst, rng):
        xml, data, dtype, extra = _read(src)
        new, n = re.subn(pattern, repl, xml, count=count, flags=re.S)
        _write(dst, new, data, dtype, extra)
    return mutate


def _matrix(space: str, x: str, y: str):
    return _xml_sub(rf"(<{space}>\s*<matrixSize>\s*)<x>[^<]*</x>\s*<y>[^<]*</y>", rf"\g<1><x>{x}</x><y>{y}</y>")


def _limit(name: str, maximum: str, center: str | None = None):
    repl = rf"\g<1><maximum>{maximum}</maximum>" + (f"<center>{center}</center>" if center is not None else r"\g<2>")
    return _xml_sub(rf"(<{name}>\s*<minimum>[^<]*</minimum>\s*)<maximum>[^<]*</maximum>(\s*<center>[^<]*</center>)",
                    repl)


def _heads(change):
    """Change acquisition header fields of the imaging readouts: ``change(head, imaging, rng)``."""
    def mutate(src, dst, rng):
        xml, data, dtype, extra = _read(src)
        head = data["head"]
        change(head, _imaging(data), rng)
        data["head"] = head
        _write(dst, xml, data, dtype, extra)
    return mutate


def _one(rng, imaging) -> int:
    return int(rng.choice(imaging))


def _set_idx(field: str, value, every: bool = False):
    def change(head, imaging, rng):
        rows = imaging if every else [_one(rng, imaging)]
        for i in rows:
            head[i]["idx"][field] = value
    return _heads(change)


def _set_field(field: str, value_of):
    def change(head, imaging, rng):
        i = _one(rng, imaging)
        head[i][field] = value_of(head[i], rng)
    return _heads(change)


def _samples(change):
    """Change the samples of one imaging readout: ``change(values, rng) -> values`` (float32 pairs)."""
    def mutate(src, dst, rng):
        xml, data, dtype, extra = _read(src)
        i = _one(rng, _imaging(data))
        data["data"][i] = change(np.asarray(data["data"][i], np.float32).copy(), rng)
        _write(dst, xml, data, dtype, extra)
    return mutate


def _nan(values, rng):
    values[rng.integers(values.size)] = np.nan
    return values


def _inf(values, rng):
    values[rng.integers(values.size)] = np.inf
    return values


def _order(change):
    def mutate(src, dst, rng):
        xml, data, dtype, extra = _read(src)
        _write(dst, xml, change(data, rng), dtype, extra)
    return mutate


def _shuffle(data, rng):
    return data[rng.permutation(len(data))]


def _duplicate(data, rng):
    imaging = _imaging(data)
    picks = rng.choice(imaging, size=max(1, len(imaging) // 4), replace=False)
    return np.concatenate([data, data[np.sort(picks)]])


def _drop(data, rng):
    imaging = _imaging(data)
    drop = rng.choice(imaging, size=max(1, len(imaging) // 3), replace=False)
    return np.delete(data, drop)


def _only_noise(data, rng):
    flags = data["head"]["flags"].astype(np.uint64)
    return data[(flags & np.uint64(1 << 18)) != 0]


def _bytes(change):
    def mutate(src, dst, rng):
        raw = bytearray(Path(src).read_bytes())
        Path(dst).write_bytes(bytes(change(raw, rng)))
    return mutate


def _truncate(raw, rng):
    return raw[:int(len(raw) * rng.uniform(0.3, 0.95))]


def _corrupt(raw, rng):
    start = int(len(raw) * rng.uniform(0.2, 0.9))
    for k in range(start, min(len(raw), start + 4096)):
        raw[k] = int(rng.integers(256))
    return raw


def _copy(src, dst, rng):
    shutil.copyfile(src, dst)


MUTATIONS = [
    # header XML
    ("header", "matrix-huge", _matrix("encodedSpace", "100000", "100000")),
    ("header", "recon-huge", _matrix("reconSpace", "100000", "100000")),
    ("header", "matrix-zero", _matrix("encodedSpace", "0", "0")),
    ("header", "recon-zero", _matrix("reconSpace", "0", "0")),
    ("header", "matrix-noninteger", _matrix("encodedSpace", "96.5", "48.5")),
    ("header", "matrix-negative", _matrix("encodedSpace", "-96", "-48")),
    ("header", "matrix-absurd-y", _matrix("encodedSpace", "96", "40000")),
    ("header", "limit-e1-small", _limit("kspace_encoding_step_1", "3", "1")),
    ("header", "limit-e1-center-huge", _limit("kspace_encoding_step_1", "47", "60000")),
    ("header", "limit-phase-zero", _limit("phase", "0")),
    ("header", "one-phase-many-reps", _xml_sub(
        r"(<phase>\s*<minimum>0</minimum>\s*)<maximum>[^<]*</maximum>"
        r"(.*?<repetition>\s*<minimum>0</minimum>\s*)<maximum>[^<]*</maximum>",
        r"\g<1><maximum>0</maximum>\g<2><maximum>4</maximum>")),
    ("header", "trajectory-spiral", _xml_sub(r"<trajectory>[^<]*</trajectory>", "<trajectory>spiral</trajectory>")),
    ("header", "trajectory-radial", _xml_sub(r"<trajectory>[^<]*</trajectory>", "<trajectory>radial</trajectory>")),
    ("header", "trajectory-cartesian", _xml_sub(r"<trajectory>[^<]*</trajectory>",
                                                "<trajectory>cartesian</trajectory>")),
    ("header", "missing-encoding", _xml_sub(r"<encoding>.*</encoding>", "")),
    ("header", "receiver-channels", _xml_sub(r"<receiverChannels>[^<]*</receiverChannels>",
                                             "<receiverChannels>32</receiverChannels>")),
    ("header", "receiver-channels-zero", _xml_sub(r"<receiverChannels>[^<]*</receiverChannels>",
                                                  "<receiverChannels>0</receiverChannels>")),
    ("header", "malformed-xml", _xml_sub(r"</encoding>", "</encodin")),
    ("header", "empty-xml", _xml_sub(r".*", "", count=1)),
    ("header", "matrix-z", _xml_sub(r"(<encodedSpace>\s*<matrixSize>.*?)<z>1</z>", r"\g<1><z>8</z>")),
    # acquisition indices
    ("indices", "slice-65535-all", _set_idx("slice", 65535, every=True)),
    ("indices", "slice-65535-one", _set_idx("slice", 65535)),
    ("indices", "e1-out-of-range", _set_idx("kspace_encode_step_1", 65535)),
    ("indices", "e1-just-outside", _set_idx("kspace_encode_step_1", 48)),
    ("indices", "phase-outside", _set_idx("phase", 300)),
    ("indices", "phase-huge-all", _set_idx("phase", 60000, every=True)),
    ("indices", "repetition-outside", _set_idx("repetition", 9)),
    ("indices", "average-outside", _set_idx("average", 7)),
    ("indices", "segment-random", _set_idx("segment", 40000)),
    # acquisition header fields
    ("fields", "number-of-samples", _set_field("number_of_samples", lambda h, r: int(h["number_of_samples"]) + 7)),
    ("fields", "number-of-samples-zero", _set_field("number_of_samples", lambda h, r: 0)),
    ("fields", "active-channels", _set_field("active_channels", lambda h, r: int(h["active_channels"]) + 1)),
    ("fields", "active-channels-zero", _set_field("active_channels", lambda h, r: 0)),
    ("fields", "discard-pre-huge", _set_field("discard_pre", lambda h, r: int(h["number_of_samples"]) + 10)),
    ("fields", "discard-pre-all", _heads(lambda h, im, r: h["discard_pre"].__setitem__(
        im, h["number_of_samples"][im]))),
    ("fields", "discard-post-huge", _set_field("discard_post", lambda h, r: 65535)),
    ("fields", "center-sample-beyond", _set_field("center_sample", lambda h, r: int(h["number_of_samples"]) + 50)),
    ("fields", "center-sample-huge", _set_field("center_sample", lambda h, r: 65535)),
    ("fields", "flags-random", _set_field("flags", lambda h, r: int(r.integers(0, 2**63)))),
    ("fields", "flags-random-all", _heads(lambda h, im, r: h["flags"].__setitem__(
        im, r.integers(0, 2**63, size=len(im)).astype(np.uint64)))),
    ("fields", "trajectory-dimensions", _set_field("trajectory_dimensions", lambda h, r: 3)),
    ("fields", "sample-time-nan", _set_field("sample_time_us", lambda h, r: np.nan)),
    # samples
    ("data", "nan", _samples(_nan)),
    ("data", "inf", _samples(_inf)),
    ("data", "zeros-one", _samples(lambda v, r: np.zeros_like(v))),
    ("data", "zeros-all", _order(lambda d, r: _zero_all(d))),
    ("data", "truncated-readout", _samples(lambda v, r: v[: v.size // 2])),
    ("data", "huge-values", _samples(lambda v, r: v * np.float32(1e30))),
    # ordering
    ("ordering", "shuffle", _order(_shuffle)),
    ("ordering", "duplicate", _order(_duplicate)),
    ("ordering", "drop", _order(_drop)),
    ("ordering", "only-noise", _order(_only_noise)),
    ("ordering", "reverse", _order(lambda d, r: d[::-1])),
    # the file itself
    ("file", "truncate", _bytes(_truncate)),
    ("file", "corrupt", _bytes(_corrupt)),
    ("file", "empty", _bytes(lambda raw, r: b"")),
    ("file", "not-hdf5", _bytes(lambda raw, r: b"not an HDF5 file\n" * 100)),
    ("file", "unchanged", _copy),
]


def _zero_all(data):
    for i in _imaging(data):
        data["data"][i] = np.zeros_like(np.asarray(data["data"][i], np.float32))
    return data


# Cases that must run in a subprocess of their own (they could allocate without bound or hang).
ISOLATED = {"matrix-huge", "recon-huge", "matrix-absurd-y", "limit-e1-center-huge", "phase-huge-all",
            "slice-65535-all", "center-sample-huge", "discard-post-huge"}
