"""Datasets: raw Fashion-MNIST and SHD, checksummed downloads, spike encoders, synthetic data,
and the encoded spike-list format shared by training and analysis.

An encoded split is a list of input spikes ``(sample, step, unit)`` sorted by sample, then step,
then unit, plus one label per sample (see ``docs/architecture.md``). It is written once by
``encode_dataset`` and read by every training job through ``load_spikes``.

Every refusal of bad input data raises :class:`DatasetError` with a message that starts with
the offending file and says what is wrong.

Modules (each imports only those above it):

- ``errors``: :class:`DatasetError` and the shared refusals (split names, value ranges, gzip
  and HDF5 read errors)
- ``spikes``: :class:`SpikeDataset`, its CSR helpers and its HDF5 file (``save_spikes``,
  ``load_spikes``)
- ``sampling``: ``stratified_subset``
- ``download``: md5 digests and checks, ``download_file`` and fetching from URL mirrors,
  :class:`DownloadError`
- ``fmnist``: Fashion-MNIST files, IDX reader, latency encoder, download
- ``shd``: SHD files, reader, binning, download
- ``synthetic``: ``make_synthetic``, ``make_synthetic_splits``
- ``encode``: ``encode_dataset`` and ``DATASET_NAMES``
"""

from .download import DownloadError, download_file, md5_file, parse_md5sums
from .encode import DATASET_NAMES, encode_dataset
from .errors import DatasetError
from .fmnist import (
    FMNIST_FILES,
    FMNIST_MD5,
    FMNIST_N_CLASSES,
    FMNIST_N_SAMPLES,
    FMNIST_SHAPE,
    FMNIST_URLS,
    download_fashion_mnist,
    encode_fashion_mnist,
    latency_encode,
    latency_steps,
    load_fashion_mnist,
    read_idx,
)
from .sampling import stratified_subset
from .shd import (
    SHD_BASE_URL,
    SHD_FILES,
    SHD_MD5,
    SHD_N_CLASSES,
    SHD_N_SAMPLES,
    SHD_N_UNITS,
    ShdRecording,
    bin_shd,
    download_shd,
    encode_shd,
    load_shd,
)
from .spikes import SpikeDataset, load_spikes, save_spikes
from .synthetic import make_synthetic, make_synthetic_splits

__all__ = [
    "DatasetError",
    "DownloadError",
    "SpikeDataset",
    "save_spikes",
    "load_spikes",
    "md5_file",
    "download_file",
    "FMNIST_FILES",
    "FMNIST_MD5",
    "FMNIST_URLS",
    "FMNIST_N_SAMPLES",
    "FMNIST_N_CLASSES",
    "FMNIST_SHAPE",
    "read_idx",
    "load_fashion_mnist",
    "latency_steps",
    "latency_encode",
    "encode_fashion_mnist",
    "download_fashion_mnist",
    "SHD_FILES",
    "SHD_MD5",
    "SHD_BASE_URL",
    "SHD_N_UNITS",
    "SHD_N_CLASSES",
    "SHD_N_SAMPLES",
    "ShdRecording",
    "parse_md5sums",
    "load_shd",
    "bin_shd",
    "encode_shd",
    "download_shd",
    "make_synthetic",
    "make_synthetic_splits",
    "stratified_subset",
    "encode_dataset",
    "DATASET_NAMES",
]
