"""MNIST and Fashion-MNIST from the published IDX files, dynamically binarized.

Files (in ``{data_root}/mnist/`` or ``{data_root}/fashion/``; ``.gz`` as published or
decompressed): ``train-images-idx3-ubyte.gz`` (60,000 images) and
``t10k-images-idx3-ubyte.gz`` (10,000 images). The published MD5 of each ``.gz`` file is
verified.

Splits: the first 50,000 training images for training, the last 10,000 for validation,
the 10,000 test images for testing (as in e.g. Mnih & Rezende, 2016, arXiv:1602.06725).
With ``test_only_split=True`` only the test file is needed: its images are shuffled with
``seed`` and split 80% / 10% / 10% into train / valid / test (for benchmarks on machines
that only hold the test set; say so when reporting numbers).

References:
    LeCun, Bottou, Bengio, Haffner (1998), Gradient-based learning applied to document
    recognition (MNIST).
    Xiao, Rasul, Vollgraf (2017), Fashion-MNIST: a Novel Image Dataset for Benchmarking
    Machine Learning Algorithms, arXiv:1708.07747.
"""
from __future__ import annotations

from pathlib import Path
from typing import Tuple

import numpy as np
import torch

from .files import CorruptDataError, DataFile, locate, register_files
from .idx import IMAGES_MAGIC, read_idx
from .images import BinaryImages, make_splits
from .registry import DATASETS, RESERVED

__all__ = ["load_mnist", "load_fashion", "MNIST_FILES", "FASHION_FILES"]

_MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"


def _files(url: str, train_md5: str, test_md5: str) -> Tuple[DataFile, DataFile]:
    def alternatives(stem: str) -> Tuple[str, ...]:
        return (stem, stem.replace("-idx", ".idx"))
    return (DataFile("train-images-idx3-ubyte.gz", train_md5, url + "train-images-idx3-ubyte.gz",
                     alternatives("train-images-idx3-ubyte")),
            DataFile("t10k-images-idx3-ubyte.gz", test_md5, url + "t10k-images-idx3-ubyte.gz",
                     alternatives("t10k-images-idx3-ubyte")))


#: (train images, test images) with their published MD5 checksums.
MNIST_FILES = _files(_MNIST_URL, "f68b3c2dcbeaaa9fbdd348bbdeb94873", "9fb629c4189551a2d022fa330f9573f3")
FASHION_FILES = _files(_FASHION_URL, "8d4fb7e6c68d591d4c3dfef9ec88bf0d", "bef4ecab320f06d8554ea6380940ec79")
register_files("mnist", "mnist", MNIST_FILES)
register_files("fashion", "fashion", FASHION_FILES)


def _images(path: Path) -> torch.Tensor:
    arr = read_idx(path, IMAGES_MAGIC)
    if arr.ndim != 3:
        raise CorruptDataError(f"{path} is corrupt: expected [N, rows, cols] images, got dimensions {arr.shape}")
    return torch.from_numpy(arr.astype(np.float32) / 255.0).unsqueeze(1)  # [N, 1, rows, cols]


def _load(dataset: str, files: Tuple[DataFile, DataFile], folder: Path, seed: int, download: bool,
          binarize: str, n_valid: int, test_only_split: bool, flatten: bool, check_md5: bool
          ) -> Tuple[BinaryImages, BinaryImages, BinaryImages]:
    train_file, test_file = files
    if test_only_split:
        (test_path,) = locate([test_file], folder, dataset, download, check_md5=check_md5)
        images = _images(test_path)
        n = images.shape[0]
        perm = torch.from_numpy(np.random.RandomState(seed).permutation(n))
        n_val = n_test = max(1, n // 10)
        n_train = n - n_val - n_test
        parts = [images[perm[:n_train]], images[perm[n_train:n_train + n_val]], images[perm[n_train + n_val:]]]
    else:
        hint = ""
        test_present = any((folder / name).is_file() for name in (test_file.name, *test_file.alternatives))
        train_present = any((folder / name).is_file() for name in (train_file.name, *train_file.alternatives))
        if test_present and not train_present:
            hint = (f"Only the test images ({test_file.name}) are present: pass test_only_split=True to split "
                    f"those 10,000 images into train/valid/test instead.")
        train_path, test_path = locate([train_file, test_file], folder, dataset, download, hint, check_md5)
        train_all, test = _images(train_path), _images(test_path)
        if not 0 < n_valid < train_all.shape[0]:
            raise ValueError(f"n_valid={n_valid} is invalid; expected 0 < n_valid < {train_all.shape[0]} "
                             f"(the number of training images)")
        parts = [train_all[:-n_valid], train_all[-n_valid:], test]
    if flatten:
        parts = [p.reshape(p.shape[0], -1) for p in parts]
    return make_splits(parts, binarize, seed)


@DATASETS.register("mnist", reserved=RESERVED,
                   help='MNIST IDX files in mnist/, dynamic binarization; [1, 28, 28]')
def load_mnist(data_root: str = "data", seed: int = 0, download: bool = False, binarize: str = "dynamic",
               n_valid: int = 10000, test_only_split: bool = False, flatten: bool = False, check_md5: bool = True
               ) -> Tuple[BinaryImages, BinaryImages, BinaryImages]:
    """MNIST from ``{data_root}/mnist/``: ``(train, valid, test)`` of ``[1, 28, 28]`` images (``[784]`` if
    ``flatten``).

    Arguments:
        binarize: binarization of the training set (see :mod:`ovis.datasets.images`).
        n_valid: validation images taken from the end of the training file.
        test_only_split: build all three splits from the test file (see the module docstring).
        check_md5: verify the published MD5 of the ``.gz`` files (turn off for re-compressed copies).
    """
    return _load("mnist", MNIST_FILES, Path(data_root) / "mnist", seed, download, binarize, n_valid,
                 test_only_split, flatten, check_md5)


@DATASETS.register("fashion", reserved=RESERVED,
                   help='Fashion-MNIST IDX files in fashion/; [1, 28, 28]')
def load_fashion(data_root: str = "data", seed: int = 0, download: bool = False, binarize: str = "dynamic",
                 n_valid: int = 10000, test_only_split: bool = False, flatten: bool = False, check_md5: bool = True
                 ) -> Tuple[BinaryImages, BinaryImages, BinaryImages]:
    """Fashion-MNIST from ``{data_root}/fashion/`` (same files, splits and options as :func:`load_mnist`)."""
    return _load("fashion", FASHION_FILES, Path(data_root) / "fashion", seed, download, binarize, n_valid,
                 test_only_split, flatten, check_md5)
