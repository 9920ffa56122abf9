"""Omniglot, as processed by Burda et al. (``chardata.mat``), dynamically binarized.

File, in ``{data_root}/omniglot/``: ``chardata.mat`` (MATLAB format, read with
``scipy.io.loadmat``). Its ``'data'`` (24,345 training images) and ``'testdata'`` (8,070
test images) arrays hold one 28x28 image per *column* (``784 x N``), each flattened in
column-major (Fortran) order; intensities in ``[0, 1]``. No official checksum is published
for this file, so only its content is checked.

Splits: the last ``n_valid = 1345`` training images for validation (as in Tucker et al.,
2017, REBAR, arXiv:1703.07370), the rest for training, ``'testdata'`` for testing.

References:
    Lake, Salakhutdinov, Tenenbaum (2015), Human-level concept learning through
    probabilistic program induction (Omniglot).
    Burda, Grosse, Salakhutdinov (2016), Importance Weighted Autoencoders, arXiv:1509.00519.
"""
from __future__ import annotations

from pathlib import Path
from typing import Tuple

import numpy as np
import torch

from .files import CorruptDataError, DataFile, locate, register_files
from .images import BinaryImages, make_splits
from .registry import DATASETS, RESERVED

__all__ = ["load_omniglot", "OMNIGLOT_FILE"]

OMNIGLOT_FILE = DataFile("chardata.mat", None,
                         "https://raw.githubusercontent.com/yburda/iwae/master/datasets/OMNIGLOT/chardata.mat")
register_files("omniglot", "omniglot", [OMNIGLOT_FILE])


def _images(mat: dict, key: str, path: Path) -> torch.Tensor:
    if key not in mat:
        raise CorruptDataError(f"{path} is corrupt: it has no array {key!r} (found {sorted(k for k in mat if not k.startswith('__'))})")
    arr = np.asarray(mat[key], dtype=np.float32)
    if arr.ndim != 2 or arr.shape[0] != 784:
        raise CorruptDataError(f"{path} is corrupt: {key!r} has shape {arr.shape}; expected 784 x N "
                               f"(one 28x28 image per column)")
    if arr.size and (arr.min() < 0 or arr.max() > 1):
        raise CorruptDataError(f"{path} is corrupt: {key!r} holds values outside [0, 1]")
    # column n is image n flattened in Fortran order: pixel (row r, column c) sits at r + 28 c
    images = arr.T.reshape(-1, 28, 28).transpose(0, 2, 1)
    return torch.from_numpy(np.ascontiguousarray(images)).unsqueeze(1)  # [N, 1, 28, 28]


@DATASETS.register("omniglot", reserved=RESERVED,
                   help='omniglot/chardata.mat, dynamic binarization; [1, 28, 28]')
def load_omniglot(data_root: str = "data", seed: int = 0, download: bool = False, binarize: str = "dynamic",
                  n_valid: int = 1345, flatten: bool = False) -> Tuple[BinaryImages, BinaryImages, BinaryImages]:
    """``(train, valid, test)`` of ``[1, 28, 28]`` images (``[784]`` if ``flatten``) from ``chardata.mat``."""
    import scipy.io

    folder = Path(data_root) / "omniglot"
    (path,) = locate([OMNIGLOT_FILE], folder, "omniglot", download)
    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as err:  # scipy raises several types for unreadable files
        raise CorruptDataError(f"{path} is corrupt: scipy.io.loadmat cannot read it ({err})") from err
    train_all, test = _images(mat, "data", path), _images(mat, "testdata", path)
    if not 0 < n_valid < train_all.shape[0]:
        raise ValueError(f"n_valid={n_valid} is invalid; expected 0 < n_valid < {train_all.shape[0]}")
    parts = [train_all[:-n_valid], train_all[-n_valid:], test]
    if flatten:
        parts = [p.reshape(p.shape[0], -1) for p in parts]
    return make_splits(parts, binarize, seed)
