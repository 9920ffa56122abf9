"""The embedded default data set: scikit-learn's 8x8 handwritten digits, binarized.

1,797 real images of digits (grey levels 0..16) ship inside the scikit-learn wheel, so this
data set needs no download: it is the default for examples, tests and CPU sweeps.
Binarized by thresholding at 8 of 16 (``binarize='threshold'``, the default) or
dynamically (``'dynamic'``). Split with a permutation drawn from ``seed``: 1,297 / 200 / 300
images for train / valid / test.

Reference: Alpaydin & Kaynak (1998), Optical Recognition of Handwritten Digits, UCI Machine
Learning Repository (the test part, as distributed by ``sklearn.datasets.load_digits``).
"""
from __future__ import annotations

from typing import Tuple

import numpy as np
import torch

from .images import BinaryImages, make_splits
from .registry import DATASETS, RESERVED

__all__ = ["load_digits", "DIGITS_SPLIT"]

#: (train, valid, test) sizes.
DIGITS_SPLIT = (1297, 200, 300)


@DATASETS.register("digits", reserved=RESERVED,
                   help="scikit-learn's 8x8 digits, embedded (the default); [1, 8, 8]")
def load_digits(data_root: str = "data", seed: int = 0, download: bool = False, binarize: str = "threshold",
                flatten: bool = False) -> Tuple[BinaryImages, BinaryImages, BinaryImages]:
    """``(train, valid, test)`` of ``[1, 8, 8]`` binary images (``[64]`` if ``flatten``).

    ``data_root`` and ``download`` are unused (the data ship with scikit-learn).
    """
    from sklearn.datasets import load_digits as sklearn_digits

    images = sklearn_digits().images.astype(np.float32) / 16.0  # [1797, 8, 8] in [0, 1]
    perm = np.random.RandomState(seed).permutation(images.shape[0])
    x = torch.from_numpy(images[perm]).unsqueeze(1)
    if flatten:
        x = x.reshape(x.shape[0], -1)
    n_train, n_valid, _ = DIGITS_SPLIT
    parts = [x[:n_train], x[n_train:n_train + n_valid], x[n_train + n_valid:]]
    return make_splits(parts, binarize, seed, threshold=0.5)
