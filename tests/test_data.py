"""Tests for eisnn.data: encoders, the spike-list format, raw loaders, downloads and refusals."""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
from pathlib import Path

import h5py
import numpy as np
import pytest

from eisnn import data
from eisnn.data import DatasetError, SpikeDataset

FMNIST_DIR = Path(
    os.environ.get(
        "EISNN_FMNIST_DIR",
        Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fashion-mnist",
    )
)
HAVE_FMNIST = all((FMNIST_DIR / name).is_file() for name in data.FMNIST_MD5)
needs_fmnist = pytest.mark.skipif(
    not HAVE_FMNIST,
    reason=f"real Fashion-MNIST not found in {FMNIST_DIR} (set EISNN_FMNIST_DIR to the folder "
    "holding the four official .gz files)",
)


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def write_idx(path: Path, array: np.ndarray, magic: int | None = None, truncate_payload: int = 0) -> Path:
    """Write a gzip IDX file; ``magic`` overrides the header, ``truncate_payload`` drops bytes."""
    array = np.asarray(array, dtype=np.uint8)
    if magic is None:
        magic = 2051 if array.ndim == 3 else 2049
    header = struct.pack(">i", magic) + struct.pack(">" + "i" * array.ndim, *array.shape)
    payload = array.tobytes()
    if truncate_payload:
        payload = payload[:-truncate_payload]
    with gzip.open(path, "wb") as handle:
        handle.write(header + payload)
    return path


def write_tiny_fmnist(directory: Path, n_per_class: int = 3, seed: int = 0) -> Path:
    """Fashion-MNIST-shaped IDX files (not the official ones, so md5 checks must be off)."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        labels = np.repeat(np.arange(10), n_per_class)
        images = rng.integers(0, 256, size=(labels.size, 28, 28))
        write_idx(directory / data.FMNIST_FILES[split]["images"], images)
        write_idx(directory / data.FMNIST_FILES[split]["labels"], labels)
    return directory


def write_shd(
    path: Path,
    times: list[list[float]],
    units: list[list[int]],
    labels: list[int],
    skip: tuple[str, ...] = (),
    compress: bool = False,
) -> Path:
    """An HDF5 file in the official SHD layout (vlen float16 times, vlen uint16 units, uint16 labels)."""
    target = path.with_name(path.name + ".tmp") if compress else path
    with h5py.File(target, "w") as handle:
        spikes = handle.create_group("spikes")
        for name, values, dtype in (("times", times, np.float16), ("units", units, np.uint16)):
            if f"spikes/{name}" in skip:
                continue
            ds = spikes.create_dataset(name, (len(values),), dtype=h5py.vlen_dtype(np.dtype(dtype)))
            for i, v in enumerate(values):
                ds[i] = np.asarray(v, dtype=dtype)
        if "labels" not in skip:
            handle.create_dataset("labels", data=np.asarray(labels, dtype=np.uint16))
    if compress:
        with open(target, "rb") as src, gzip.open(path, "wb") as dst:
            dst.write(src.read())
        target.unlink()
    return path


def brute_events(ds: SpikeDataset, indices) -> list[tuple[int, int, int]]:
    out = []
    for pos, i in enumerate(indices):
        mask = ds.sample == i
        out += [(pos, int(s), int(u)) for s, u in zip(ds.step[mask], ds.unit[mask])]
    return out


def no_leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# ---------------------------------------------------------------------------------------------
# real Fashion-MNIST
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_test_split():
    return data.encode_fashion_mnist(FMNIST_DIR, "test")


@needs_fmnist
def test_real_fmnist_checksums_counts_and_balance():
    for name, official in data.FMNIST_MD5.items():
        assert data.md5_file(FMNIST_DIR / name) == official, name
    for split, n in data.FMNIST_N_SAMPLES.items():
        images, labels = data.load_fashion_mnist(FMNIST_DIR, split)
        assert images.shape == (n, 28, 28) and images.dtype == np.uint8
        assert labels.shape == (n,) and labels.dtype == np.int64
        assert np.array_equal(np.bincount(labels, minlength=10), np.full(10, n // 10))


@needs_fmnist
def test_real_fmnist_encoding_statistics(real_test_split):
    ds = real_test_split
    ds.validate()
    assert (ds.n_samples, ds.n_steps, ds.n_units, ds.n_classes) == (10000, 100, 784, 10)
    mean_spikes = ds.spike_counts().mean()
    print(f"mean input spikes per test image: {mean_spikes:.3f}")
    assert 300 <= mean_spikes <= 360
    assert ds.step.min() >= 4 and ds.step.max() < 100  # pixel 255 gives the earliest step, 4
    per_pixel = np.bincount(ds.sample * ds.n_units + ds.unit, minlength=ds.n_samples * ds.n_units)
    assert per_pixel.max() == 1  # one spike per pixel at most
    assert ds.attrs["source_md5_images"] == data.FMNIST_MD5["t10k-images-idx3-ubyte.gz"]
    # Every pixel above theta spikes at n_steps = 100 (pixel 52 -> step 79), so the spike count
    # equals the number of pixels above 0.2 * 255.
    images, labels = data.load_fashion_mnist(FMNIST_DIR, "test")
    assert np.array_equal(ds.spike_counts(), (images.reshape(10000, -1) > 51).sum(axis=1))
    assert np.array_equal(ds.labels, labels)
    # The float formula applied pixel by pixel gives the same events as the lookup table.
    x = images[:3].reshape(3, -1) / 255.0
    batch_pos, step, unit = ds.events([0, 1, 2])
    for b in range(3):
        expected = np.full(784, -1)
        for u in np.flatnonzero(x[b] > 0.2):
            expected[u] = int(20.0 * np.log(x[b, u] / (x[b, u] - 0.2)))
        got = np.full(784, -1)
        got[unit[batch_pos == b]] = step[batch_pos == b]
        assert np.array_equal(got, expected)


@needs_fmnist
def test_download_fmnist_from_file_url_and_skip_present(tmp_path, monkeypatch):
    paths = data.download_fashion_mnist(tmp_path, base_url=FMNIST_DIR.as_uri())
    assert sorted(p.name for p in paths) == sorted(data.FMNIST_MD5)
    for p in paths:
        assert md5(p) == data.FMNIST_MD5[p.name]
    assert no_leftovers(tmp_path) == sorted(data.FMNIST_MD5)

    def refuse(*args, **kwargs):
        raise AssertionError("a file with the official md5 must not be fetched again")

    monkeypatch.setattr(data.download, "download_file", refuse)  # where the fetch looks it up
    data.download_fashion_mnist(tmp_path, base_url=FMNIST_DIR.as_uri())


# ---------------------------------------------------------------------------------------------
# latency encoder
# ---------------------------------------------------------------------------------------------


def test_latency_steps_hand_values():
    pixels = np.array([0, 50, 51, 52, 60, 128, 255])
    # 255: int(20 ln(1/0.8)) = int(4.46) = 4; 51/255 = 0.2 exactly -> no spike;
    # 52: int(20 ln(52)) = int(79.02) = 79; 60: int(20 ln(60/9)) = int(37.94) = 37;
    # 128: int(20 ln(128/77)) = int(10.16) = 10.
    expected = np.array([-1, -1, -1, 79, 37, 10, 4])
    assert np.array_equal(data.latency_steps(pixels / 255.0), expected)
    # With a 50-step window, pixel 52 (step 79) emits nothing.
    assert np.array_equal(data.latency_steps(pixels / 255.0, n_steps=50), [-1, -1, -1, -1, 37, 10, 4])
    # Float intensities directly: x = 0.5 -> int(20 ln(5/3)) = int(10.22) = 10; x = 0.2 -> none.
    assert np.array_equal(data.latency_steps(np.array([1.0, 0.5, 0.2, 0.0])), [4, 10, -1, -1])
    # Other tau and theta: x = 1, theta = 0.5, tau = 10 -> int(10 ln 2) = int(6.93) = 6.
    assert data.latency_steps(np.array([1.0]), tau_eff=10.0, theta=0.5)[0] == 6


def test_latency_encode_events_sorted_by_sample_step_unit():
    images = np.zeros((2, 2, 2), dtype=np.uint8)
    images[0] = [[255, 60], [51, 255]]  # units 0 and 3 at step 4, unit 1 at step 37
    images[1] = [[0, 128], [52, 0]]  # unit 1 at step 10, unit 2 at step 79
    sample, step, unit = data.latency_encode(images)
    events = list(zip(sample.tolist(), step.tolist(), unit.tolist()))
    assert events == [(0, 4, 0), (0, 4, 3), (0, 37, 1), (1, 10, 1), (1, 79, 2)]
    assert sample.dtype == np.int64 and step.dtype == np.int32 and unit.dtype == np.int32
    floats = data.latency_encode(images / 255.0)
    assert all(np.array_equal(a, b) for a, b in zip(floats, (sample, step, unit)))


def test_encode_fashion_mnist_subset_is_stratified(tmp_path):
    raw = write_tiny_fmnist(tmp_path / "raw", n_per_class=5)
    full = data.encode_fashion_mnist(raw, "train", verify_md5=False)
    sub = data.encode_fashion_mnist(raw, "train", subset=20, subset_seed=3, verify_md5=False)
    assert full.n_samples == 50 and sub.n_samples == 20
    assert np.array_equal(np.bincount(sub.labels, minlength=10), np.full(10, 2))
    assert sub.attrs["subset"] == 20 and sub.attrs["subset_seed"] == 3
    chosen = data.stratified_subset(full.labels, 20, seed=3)
    for pos, i in enumerate(chosen):  # each subset sample carries the same spikes as its source
        assert brute_events(sub, [pos]) == brute_events(full, [i])
    with pytest.raises(DatasetError, match="md5"):
        data.encode_fashion_mnist(raw, "train")


def test_stratified_subset_balanced_nested_and_seeded():
    labels = np.repeat(np.arange(10), 100)
    small, large = data.stratified_subset(labels, 30, seed=1), data.stratified_subset(labels, 95, seed=1)
    assert np.array_equal(np.bincount(labels[small], minlength=10), np.full(10, 3))
    assert (
        np.bincount(labels[large], minlength=10).max() - np.bincount(labels[large], minlength=10).min() <= 1
    )
    assert set(small) <= set(large)
    assert np.array_equal(small, np.sort(small))
    assert not np.array_equal(small, data.stratified_subset(labels, 30, seed=2))
    assert np.array_equal(small, data.stratified_subset(labels, 30, seed=1))


# ---------------------------------------------------------------------------------------------
# SpikeDataset and the HDF5 format
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def synthetic() -> SpikeDataset:
    return data.make_synthetic(40, n_units=30, n_steps=20, n_classes=4, seed=5)


def test_events_dense_subset_match_brute_force(synthetic):
    ds = synthetic
    indices = [7, 3, 3, 39, 0, 12]  # unsorted, with a repeat
    batch_pos, step, unit = ds.events(indices)
    assert batch_pos.dtype == step.dtype == unit.dtype == np.int64
    assert list(zip(batch_pos.tolist(), step.tolist(), unit.tolist())) == brute_events(ds, indices)

    dense = ds.dense(indices)
    assert dense.shape == (6, 20, 30) and dense.dtype == bool
    for pos, i in enumerate(indices):
        expected = np.zeros((20, 30), dtype=bool)
        mask = ds.sample == i
        expected[ds.step[mask], ds.unit[mask]] = True
        assert np.array_equal(dense[pos], expected)

    sub = ds.subset(indices)
    sub.validate()
    assert sub.n_samples == 6 and np.array_equal(sub.labels, ds.labels[indices])
    assert brute_events(sub, range(6)) == brute_events(ds, indices)
    assert np.array_equal(ds.offsets[-1], ds.n_events) and ds.offsets.dtype == np.int64
    assert np.array_equal(ds.spike_counts(), np.bincount(ds.sample, minlength=ds.n_samples))
    empty = ds.events([])
    assert all(a.shape == (0,) for a in empty)
    with pytest.raises(IndexError):
        ds.events([40])

    row_offsets, step, unit = ds.row_events(indices)
    assert row_offsets.dtype == np.int64 and step.dtype == unit.dtype == np.int32
    rows = np.repeat(np.arange(len(indices)), np.diff(row_offsets))
    assert list(zip(rows.tolist(), step.tolist(), unit.tolist())) == brute_events(ds, indices)
    assert [a.shape for a in ds.row_events([])] == [(1,), (0,), (0,)]
    with pytest.raises(IndexError):
        ds.row_events([40])


def test_dense_counts_repeated_events():
    ds = SpikeDataset([0, 0, 0, 1], [2, 2, 3, 0], [1, 1, 0, 4], [0, 1], n_steps=4, n_units=5, n_classes=2)
    ds.validate()
    counts = ds.dense(dtype=np.int16)
    assert counts[0, 2, 1] == 2 and counts[0, 3, 0] == 1 and counts[1, 0, 4] == 1 and counts.sum() == 4
    assert ds.dense()[0, 2, 1] and ds.dense().sum() == 3


def test_post_init_coerces_dtypes():
    ds = SpikeDataset([0], np.array([1], np.int16), [2], np.array([1], np.uint8), 3.0, 4, 2)
    assert (ds.sample.dtype, ds.step.dtype, ds.unit.dtype, ds.labels.dtype) == (
        np.int64,
        np.int32,
        np.int32,
        np.int64,
    )
    assert isinstance(ds.n_steps, int) and ds.attrs == {}


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(step=[0, 5, 1]), "steps out of range 0..4: found 5"),
        (dict(unit=[0, 1, 9]), "units out of range 0..5: found 9"),
        (dict(labels=[0, 12]), "labels out of range 0..2: found 12"),
        (dict(sample=[1, 0, 1]), "not sorted"),
        (dict(step=[0, 2, 1]), "not sorted"),
        (dict(step=[0, 1, 1], unit=[0, 2, 1]), "not sorted"),
        (dict(sample=[0, 1, 2]), "sample indices out of range 0..1: found 2"),
    ],
)
def test_validate_refuses_bad_datasets(change, message):
    fields = dict(
        sample=[0, 1, 1], step=[0, 1, 2], unit=[0, 1, 2], labels=[0, 2], n_steps=5, n_units=6, n_classes=3
    )
    fields.update(change)
    with pytest.raises(DatasetError, match=message):
        SpikeDataset(**fields).validate(source="where.h5")
    with pytest.raises(DatasetError, match="where.h5"):
        SpikeDataset(**fields).validate(source="where.h5")


def test_save_load_round_trip(tmp_path, synthetic):
    path = tmp_path / "enc" / "train.h5"
    synthetic.attrs.update(note="x", empty=None)
    data.save_spikes(path, synthetic)
    assert no_leftovers(path.parent) == ["train.h5"]
    loaded = data.load_spikes(path)
    for name in ("sample", "step", "unit", "labels"):
        assert np.array_equal(getattr(loaded, name), getattr(synthetic, name)), name
    assert (loaded.n_steps, loaded.n_units, loaded.n_classes) == (20, 30, 4)
    assert loaded.step.dtype == np.int32 and loaded.sample.dtype == np.int64
    expected_attrs = {k: v for k, v in synthetic.attrs.items() if v is not None}
    assert loaded.attrs == expected_attrs
    with h5py.File(path, "r") as handle:
        assert handle.attrs["n_samples"] == 40 and handle.attrs["dataset"] == "synthetic"
        assert all(handle[name].compression == "gzip" for name in ("sample", "step", "unit"))
        assert handle["labels"].dtype == np.int64 and handle["sample"].dtype == np.int64


def test_save_refuses_reserved_attrs(tmp_path, synthetic):
    synthetic.attrs["n_steps"] = 3
    with pytest.raises(ValueError, match="n_steps"):
        data.save_spikes(tmp_path / "x.h5", synthetic)
    assert no_leftovers(tmp_path) == []


def test_load_spikes_refuses_truncated_and_incomplete_files(tmp_path, synthetic):
    path = tmp_path / "train.h5"
    data.save_spikes(path, synthetic)
    raw = path.read_bytes()
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DatasetError, match="truncated.h5"):
        data.load_spikes(truncated)

    partial = tmp_path / "no_unit.h5"
    with h5py.File(partial, "w") as handle:
        for name in ("sample", "step", "labels"):
            handle.create_dataset(name, data=np.zeros(1, dtype=np.int64))
    with pytest.raises(DatasetError, match=r"no_unit\.h5: missing dataset\(s\) 'unit'"):
        data.load_spikes(partial)

    bad_label = tmp_path / "bad_label.h5"
    synthetic.labels[0] = 9
    data.save_spikes(bad_label, synthetic)
    with pytest.raises(DatasetError, match=r"bad_label\.h5: labels out of range 0\.\.3: found 9"):
        data.load_spikes(bad_label)
    with pytest.raises(DatasetError, match="missing.h5"):
        data.load_spikes(tmp_path / "missing.h5")


@pytest.mark.parametrize(
    "n_samples, n_events, seed", [(0, 0, 0), (1, 0, 1), (7, 0, 2), (50, 300, 3), (400, 60, 4)]
)
def test_csr_helpers_match_an_independent_count(n_samples, n_events, seed):
    from eisnn.data.spikes import csr_gather, csr_offsets

    rng = np.random.default_rng(seed)
    # Sorted ids with empty samples (most of them when n_events < n_samples), first and last
    # samples often empty too.
    sample = np.sort(rng.integers(0, n_samples, size=n_events)) if n_samples else np.zeros(0, np.int64)
    offsets = csr_offsets(sample, n_samples)
    expected = np.concatenate([[0], np.cumsum(np.bincount(sample, minlength=n_samples))]).astype(np.int64)
    assert offsets.dtype == np.int64 and np.array_equal(offsets, expected)
    for i in range(n_samples):
        assert np.all(sample[offsets[i] : offsets[i + 1]] == i)
    indices = rng.integers(0, n_samples, size=2 * n_samples) if n_samples else np.zeros(0, np.int64)
    batch_pos, source = csr_gather(offsets, indices)
    brute = [(pos, k) for pos, i in enumerate(indices) for k in np.flatnonzero(sample == i)]
    assert list(zip(batch_pos.tolist(), source.tolist())) == brute
    assert batch_pos.dtype == source.dtype == np.int64


def test_save_spikes_is_byte_identical_for_the_same_dataset(tmp_path, synthetic):
    synthetic.attrs.update(note="x", flags=[1, 2, 3], empty=None, path=Path("/some/where"))
    first = data.save_spikes(tmp_path / "a" / "train.h5", synthetic)
    second = data.save_spikes(tmp_path / "b" / "other.h5", synthetic)
    assert first.read_bytes() == second.read_bytes()
    # Equal content built another way gives the same bytes too.
    again = data.save_spikes(tmp_path / "c" / "train.h5", synthetic.subset(slice(None)))
    assert again.read_bytes() == first.read_bytes()
    empty = data.SpikeDataset([], [], [], [0, 1], n_steps=5, n_units=3, n_classes=2)
    assert (
        data.save_spikes(tmp_path / "e1.h5", empty).read_bytes()
        == data.save_spikes(tmp_path / "e2.h5", empty).read_bytes()
    )


# ---------------------------------------------------------------------------------------------
# IDX parsing and refusal of corrupt Fashion-MNIST files
# ---------------------------------------------------------------------------------------------


def test_read_idx_round_trip(tmp_path):
    images = np.arange(2 * 28 * 28, dtype=np.int64).reshape(2, 28, 28) % 256
    assert np.array_equal(data.read_idx(write_idx(tmp_path / "i.gz", images), kind="images"), images)
    labels = np.array([3, 1, 4])
    assert np.array_equal(data.read_idx(write_idx(tmp_path / "l.gz", labels)), labels)


def test_truncated_gzip_is_refused(tmp_path):
    good = write_idx(tmp_path / "good.gz", np.zeros((50, 28, 28)) + 7)
    bad = tmp_path / "train-images-idx3-ubyte.gz"
    bad.write_bytes(good.read_bytes()[:-20])
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte\.gz: truncated gzip stream"):
        data.read_idx(bad)
    notgz = tmp_path / "plain.gz"
    notgz.write_bytes(b"this is not gzip at all")
    with pytest.raises(DatasetError, match=r"plain\.gz: corrupt gzip"):
        data.read_idx(notgz)


def test_wrong_idx_magic_and_short_payload_are_refused(tmp_path):
    labels_as_images = write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.arange(10))
    with pytest.raises(
        DatasetError, match=r"train-images-idx3-ubyte\.gz: IDX magic number 2049 where 2051 \(images\)"
    ):
        data.read_idx(labels_as_images, kind="images")
    odd = write_idx(tmp_path / "odd.gz", np.arange(4), magic=1234)
    with pytest.raises(DatasetError, match=r"odd\.gz: IDX magic number 1234"):
        data.read_idx(odd)
    short = write_idx(tmp_path / "short.gz", np.zeros((3, 28, 28)), truncate_payload=5)
    with pytest.raises(DatasetError, match=r"short\.gz: IDX payload truncated"):
        data.read_idx(short)


def test_wrong_md5_and_inconsistent_counts_are_refused(tmp_path):
    raw = write_tiny_fmnist(tmp_path / "raw")
    with pytest.raises(
        DatasetError,
        match=r"train-images-idx3-ubyte\.gz: md5 [0-9a-f]{32} does not match the official 8d4fb7e6",
    ):
        data.load_fashion_mnist(raw, "train")
    images, labels = data.load_fashion_mnist(raw, "train", verify_md5=False)
    assert images.shape == (30, 28, 28) and labels.shape == (30,)
    write_idx(raw / "t10k-labels-idx1-ubyte.gz", np.arange(7))
    with pytest.raises(DatasetError, match=r"30 images but .*t10k-labels-idx1-ubyte\.gz has 7 labels"):
        data.load_fashion_mnist(raw, "test", verify_md5=False)
    write_idx(raw / "t10k-labels-idx1-ubyte.gz", np.full(30, 12))
    with pytest.raises(
        DatasetError, match=r"t10k-labels-idx1-ubyte\.gz: labels out of range 0\.\.9: found 12"
    ):
        data.load_fashion_mnist(raw, "test", verify_md5=False)
    with pytest.raises(DatasetError, match="not found"):
        data.load_fashion_mnist(tmp_path / "nowhere", "test")


# ---------------------------------------------------------------------------------------------
# downloads (file:// URLs; the network is never used)
# ---------------------------------------------------------------------------------------------


def test_download_file_checks_md5_and_leaves_nothing_on_mismatch(tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(3000))
    out = tmp_path / "out"
    got = data.download_file(source.as_uri(), out / "copy.bin", md5(source))
    assert got.read_bytes() == source.read_bytes()
    with pytest.raises(DatasetError, match=r"wrong\.bin: md5 .* does not match the expected 0{32}"):
        data.download_file(source.as_uri(), out / "wrong.bin", "0" * 32)
    assert no_leftovers(out) == ["copy.bin"]
    with pytest.raises(data.DownloadError, match="download failed"):
        data.download_file((tmp_path / "absent.bin").as_uri(), out / "absent.bin", None)
    assert no_leftovers(out) == ["copy.bin"]


def test_download_fmnist_refuses_files_with_wrong_md5(tmp_path):
    fake = write_tiny_fmnist(tmp_path / "mirror")
    dest = tmp_path / "dest"
    with pytest.raises(DatasetError, match="does not match"):
        data.download_fashion_mnist(dest, base_url=[fake.as_uri()])
    assert not dest.exists() or no_leftovers(dest) == []


def test_download_shd_with_supplied_checksums(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for split in ("train", "test"):
        write_shd(mirror / f"shd_{split}.h5.gz", [[0.1]], [[3]], [1], compress=True)
    sums = {p.name: md5(p) for p in mirror.iterdir()}
    assert data.parse_md5sums("".join(f"{v}  {k}\n" for k, v in sums.items())) == sums
    paths = data.download_shd(tmp_path / "dest", base_url=mirror.as_uri(), md5s=sums)
    assert sorted(p.name for p in paths) == ["shd_test.h5.gz", "shd_train.h5.gz"]
    recording = data.load_shd(tmp_path / "dest", "train", md5s=sums)
    assert recording.n_samples == 1
    with pytest.raises(DatasetError, match="does not match"):
        data.download_shd(tmp_path / "other", base_url=mirror.as_uri(), splits=["test"])
    assert no_leftovers(tmp_path / "other") == []


def test_download_shd_keeps_files_that_already_match(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    write_shd(mirror / "shd_test.h5.gz", [[0.1]], [[3]], [1], compress=True)
    sums = {"shd_test.h5.gz": md5(mirror / "shd_test.h5.gz")}
    mirrors = [(tmp_path / "nowhere").as_uri(), mirror.as_uri()]  # the first one fails
    data.download_shd(tmp_path / "dest", base_url=mirrors, splits=["test"], md5s=sums)

    def refuse(*args, **kwargs):
        raise AssertionError("a file with the expected md5 must not be fetched again")

    monkeypatch.setattr(data.download, "download_file", refuse)
    paths = data.download_shd(tmp_path / "dest", base_url=mirror.as_uri(), splits=["test"], md5s=sums)
    assert [p.name for p in paths] == ["shd_test.h5.gz"] and md5(paths[0]) == sums["shd_test.h5.gz"]


# ---------------------------------------------------------------------------------------------
# SHD
# ---------------------------------------------------------------------------------------------

SHD_TIMES = [[0.0, 0.7, 1.4, 1.5, 0.0035, 0.0034], [0.35, 0.35, 1.39], []]
SHD_UNITS = [[5, 6, 7, 8, 699, 699], [10, 10, 0], []]
SHD_LABELS = [3, 19, 0]


@pytest.mark.parametrize("compress", [False, True])
def test_shd_binning_by_hand(tmp_path, compress):
    name = "shd_test.h5.gz" if compress else "shd_test.h5"
    write_shd(tmp_path / name, SHD_TIMES, SHD_UNITS, SHD_LABELS, compress=compress)
    ds = data.encode_shd(tmp_path, "test", verify_md5=False)
    assert (ds.n_samples, ds.n_steps, ds.n_units, ds.n_classes) == (3, 200, 700, 20)
    # float16 0.0035 = 0.003500 -> floor(0.500) = 0; 0.0034 -> 0; 0.7 -> 100; 1.4 -> 199;
    # 1.5 > 1.4 dropped; 0.35 -> floor(50.0) = 50 (kept twice); 1.39 -> floor(198.6) = 198.
    events = list(zip(ds.sample.tolist(), ds.step.tolist(), ds.unit.tolist()))
    assert events == [
        (0, 0, 5),
        (0, 0, 699),
        (0, 0, 699),
        (0, 100, 6),
        (0, 199, 7),
        (1, 50, 10),
        (1, 50, 10),
        (1, 198, 0),
    ]
    assert np.array_equal(ds.labels, SHD_LABELS)
    assert ds.dense(dtype=np.int32)[1, 50, 10] == 2
    assert ds.attrs["dataset"] == "shd" and ds.attrs["t_max_s"] == 1.4 and ds.attrs["split"] == "test"
    assert ds.attrs["source_md5"] == md5(tmp_path / name)


def test_shd_other_window_and_subset(tmp_path):
    write_shd(tmp_path / "shd_train.h5", SHD_TIMES, SHD_UNITS, SHD_LABELS)
    # 100 bins over 0.7 s: 0.35 -> 50; 0.7 -> last bin 99; 1.4, 1.5 and 1.39 dropped.
    ds = data.encode_shd(tmp_path, "train", n_steps=100, t_max_s=0.7, verify_md5=False)
    assert list(zip(ds.sample.tolist(), ds.step.tolist(), ds.unit.tolist())) == [
        (0, 0, 5),
        (0, 0, 699),
        (0, 0, 699),
        (0, 99, 6),
        (1, 50, 10),
        (1, 50, 10),
    ]
    sub = data.encode_shd(tmp_path, "train", subset=2, subset_seed=0, verify_md5=False)
    chosen = data.stratified_subset(np.array(SHD_LABELS), 2, seed=0)
    full = data.encode_shd(tmp_path, "train", verify_md5=False)
    assert np.array_equal(sub.labels, full.labels[chosen])
    assert brute_events(sub, range(2)) == brute_events(full, chosen)


def test_shd_md5_verification(tmp_path):
    write_shd(tmp_path / "shd_test.h5", SHD_TIMES, SHD_UNITS, SHD_LABELS)
    with pytest.raises(
        DatasetError, match=r"shd_test\.h5: md5 [0-9a-f]{32} does not match the published 207ad129"
    ):
        data.load_shd(tmp_path, "test")
    ok = data.load_shd(tmp_path, "test", md5s={"shd_test.h5": md5(tmp_path / "shd_test.h5")})
    assert ok.n_samples == 3


@pytest.mark.parametrize(
    "times, units, labels, skip, message",
    [
        (SHD_TIMES, SHD_UNITS, SHD_LABELS, ("spikes/units",), r"missing dataset 'spikes/units'"),
        (SHD_TIMES, SHD_UNITS, SHD_LABELS, ("labels",), r"missing dataset 'labels'"),
        (SHD_TIMES, SHD_UNITS, [3, 20, 0], (), r"labels out of range 0\.\.19: found 20"),
        (
            SHD_TIMES,
            [[5, 6, 7, 8, 700, 1], [1, 1, 1], []],
            SHD_LABELS,
            (),
            r"units out of range 0\.\.699: found 700",
        ),
        (SHD_TIMES, [[5], [10, 10, 0], []], SHD_LABELS, (), r"sample 0 has 6 spike times but 1 units"),
        (SHD_TIMES, SHD_UNITS, [3, 19], (), r"2 labels but 3 'spikes/times'"),
        ([[-0.1], [], []], [[1], [], []], SHD_LABELS, (), r"spike times must be finite and non-negative"),
    ],
)
def test_shd_bad_layout_is_refused(tmp_path, times, units, labels, skip, message):
    write_shd(tmp_path / "shd_train.h5", times, units, labels, skip=skip)
    with pytest.raises(DatasetError, match=r"shd_train\.h5: " + message):
        data.load_shd(tmp_path, "train", verify_md5=False)


def test_shd_truncated_files_are_refused(tmp_path):
    write_shd(tmp_path / "full.h5", SHD_TIMES * 50, SHD_UNITS * 50, SHD_LABELS * 50)
    raw = (tmp_path / "full.h5").read_bytes()
    (tmp_path / "shd_test.h5").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DatasetError, match=r"shd_test\.h5: unreadable or truncated HDF5"):
        data.load_shd(tmp_path, "test", verify_md5=False)
    packed = gzip.compress(raw)
    (tmp_path / "shd_train.h5.gz").write_bytes(packed[: len(packed) // 2])
    with pytest.raises(DatasetError, match=r"shd_train\.h5\.gz: truncated gzip stream"):
        data.load_shd(tmp_path, "train", verify_md5=False)
    with pytest.raises(DatasetError, match=r"shd_test\.h5\.gz: SHD file not found"):
        data.load_shd(tmp_path / "empty", "test")


# ---------------------------------------------------------------------------------------------
# synthetic data
# ---------------------------------------------------------------------------------------------


def test_synthetic_is_deterministic_and_in_range():
    a = data.make_synthetic(64, seed=3)
    b = data.make_synthetic(64, seed=3)
    c = data.make_synthetic(64, seed=4)
    a.validate()
    for name in ("sample", "step", "unit", "labels"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.unit, c.unit) or not np.array_equal(a.step, c.step)
    assert (a.n_units, a.n_steps, a.n_classes) == (100, 50, 4)
    assert np.array_equal(np.bincount(a.labels), [16, 16, 16, 16])
    pairs = a.sample * a.n_units + a.unit
    assert np.unique(pairs).size == pairs.size  # one spike per unit at most
    density = a.n_events / (a.n_samples * a.n_steps * a.n_units)
    assert 0.002 < density < 0.05
    assert a.attrs["dataset"] == "synthetic" and a.attrs["seed"] == 3


def test_synthetic_classes_are_learnable():
    train, test = data.make_synthetic_splits(400, 200, seed=1)
    assert train.attrs["split"] == "train" and test.attrs["split"] == "test"
    assert train.attrs["seed"] != test.attrs["seed"]

    def unit_counts(ds: SpikeDataset) -> np.ndarray:
        counts = np.zeros((ds.n_samples, ds.n_units))
        np.add.at(counts, (ds.sample, ds.unit), 1)
        return counts

    x_train, x_test = unit_counts(train), unit_counts(test)
    means = np.stack([x_train[train.labels == c].mean(axis=0) for c in range(train.n_classes)])
    predicted = np.argmin(((x_test[:, None, :] - means[None]) ** 2).sum(axis=2), axis=1)
    accuracy = (predicted == test.labels).mean()
    assert accuracy > 0.8  # chance is 0.25


# ---------------------------------------------------------------------------------------------
# encode_dataset
# ---------------------------------------------------------------------------------------------


def test_encode_dataset_synthetic_writes_both_splits(tmp_path):
    train, test = data.encode_dataset(
        "synthetic",
        None,
        tmp_path / "train.h5",
        tmp_path / "test.h5",
        n_train=32,
        n_test=16,
        n_units=20,
        seed=2,
    )
    loaded = data.load_spikes(tmp_path / "test.h5")
    assert loaded.n_samples == 16 and loaded.n_units == 20
    assert np.array_equal(loaded.unit, test.unit)
    assert data.load_spikes(tmp_path / "train.h5").attrs["split"] == "train"


def test_encode_dataset_fmnist_and_shd_small(tmp_path):
    raw = write_tiny_fmnist(tmp_path / "fm")
    train, test = data.encode_dataset(
        "fmnist",
        raw,
        tmp_path / "out" / "fm_train.h5",
        tmp_path / "out" / "fm_test.h5",
        verify_md5=False,
        subset_train=10,
        n_steps=50,
    )
    assert train.n_samples == 10 and test.n_samples == 30
    assert data.load_spikes(tmp_path / "out" / "fm_train.h5").attrs["tau_eff"] == 20.0
    shd = tmp_path / "shd"
    shd.mkdir()
    for split in ("train", "test"):
        write_shd(shd / f"shd_{split}.h5", SHD_TIMES, SHD_UNITS, SHD_LABELS)
    data.encode_dataset(
        "shd", shd, tmp_path / "out" / "s_train.h5", tmp_path / "out" / "s_test.h5", verify_md5=False
    )
    assert data.load_spikes(tmp_path / "out" / "s_test.h5").n_events == 8


def test_encode_dataset_refusals_leave_no_output(tmp_path):
    with pytest.raises(ValueError, match="fmnist, shd, synthetic"):
        data.encode_dataset("cifar", None, tmp_path / "a.h5", tmp_path / "b.h5")
    raw = write_tiny_fmnist(tmp_path / "raw")
    out = tmp_path / "out"
    # md5 refusal before anything is written
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte.gz"):
        data.encode_dataset("fmnist", raw, out / "train.h5", out / "test.h5")
    assert not out.exists() or no_leftovers(out) == []
    # the train split encodes and is written, then the test split is corrupt: both are removed
    good = (raw / "t10k-images-idx3-ubyte.gz").read_bytes()
    (raw / "t10k-images-idx3-ubyte.gz").write_bytes(good[: len(good) // 2])
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte\.gz: truncated gzip stream"):
        data.encode_dataset("fmnist", raw, out / "train.h5", out / "test.h5", verify_md5=False)
    assert no_leftovers(out) == []
    with pytest.raises(TypeError, match="tau_eff"):
        data.encode_dataset("shd", raw, out / "train.h5", out / "test.h5", tau_eff=3)


# ---------------------------------------------------------------------------------------------
# the package
# ---------------------------------------------------------------------------------------------


def test_public_api_and_light_imports():
    import subprocess
    import sys

    assert all(hasattr(data, name) for name in data.__all__)
    code = (
        "import sys, eisnn.data; "
        "print(sorted(m for m in ('torch', 'numba') if any(k.split('.')[0] == m for k in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
