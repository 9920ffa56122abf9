"""Binarized MNIST with the fixed binarization of Larochelle & Murray (2011).

Files, in ``{data_root}/binmnist/``: ``binarized_mnist_train.amat`` (50,000 images),
``binarized_mnist_valid.amat`` (10,000) and ``binarized_mnist_test.amat`` (10,000); one
image per line, 784 space-separated 0/1 values (row-major 28x28). No official checksum
is published for these files, so only their content is checked.

Reference: Larochelle & Murray (2011), The Neural Autoregressive Distribution Estimator,
AISTATS (the split used by e.g. Burda et al., 2016, arXiv:1509.00519, and Mnih & Rezende,
2016, arXiv:1602.06725).
"""
from __future__ import annotations

from pathlib import Path
from typing import Tuple

import numpy as np
import torch

from .files import CorruptDataError, DataFile, locate, register_files
from .images import BinaryImages
from .registry import DATASETS, RESERVED

__all__ = ["load_binmnist", "read_amat", "BINMNIST_FILES"]

_URL = "http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/"
BINMNIST_FILES = tuple(DataFile(f"binarized_mnist_{split}.amat", None, f"{_URL}binarized_mnist_{split}.amat")
                       for split in ("train", "valid", "test"))
register_files("binmnist", "binmnist", BINMNIST_FILES)


def read_amat(path: Path, width: int = 784) -> np.ndarray:
    """Parse an ``.amat`` file of 0/1 values, ``width`` per line: ``[lines, width]`` uint8.

    Raises:
        CorruptDataError: a character other than ``0``, ``1`` or whitespace, or a line with a
            number of values other than ``width``.
    """
    raw = np.frombuffer(Path(path).read_bytes(), dtype=np.uint8)
    is_digit = (raw == ord("0")) | (raw == ord("1"))
    is_space = (raw == ord(" ")) | (raw == ord("\n")) | (raw == ord("\r")) | (raw == ord("\t"))
    if not np.all(is_digit | is_space):
        bad = int(np.argmax(~(is_digit | is_space)))
        raise CorruptDataError(f"{path} is corrupt: byte {bad} is {bytes(raw[bad:bad + 1])!r}; expected "
                               f"space-separated 0/1 values")
    text = raw.tobytes().decode("ascii")
    lines = [line for line in text.splitlines() if line.strip()]
    counts = {len(line.split()) for line in lines}
    if counts - {width}:
        raise CorruptDataError(f"{path} is corrupt: lines hold {sorted(counts)} values; expected {width} per line")
    digits = raw[is_digit] - ord("0")
    return digits.reshape(len(lines), width)


@DATASETS.register("binmnist", reserved=RESERVED,
                   help="Larochelle's fixed binarization of MNIST, binmnist/*.amat; [1, 28, 28]")
def load_binmnist(data_root: str = "data", seed: int = 0, download: bool = False, flatten: bool = False
                  ) -> Tuple[BinaryImages, BinaryImages, BinaryImages]:
    """``(train, valid, test)`` of fixed-binarized ``[1, 28, 28]`` images (``[784]`` if ``flatten``).

    ``seed`` is unused (the binarization is fixed by the files); kept for a uniform signature.
    """
    folder = Path(data_root) / "binmnist"
    paths = locate(BINMNIST_FILES, folder, "binmnist", download)
    splits = []
    for path in paths:
        x = torch.from_numpy(read_amat(path).astype(np.float32))
        splits.append(BinaryImages(x if flatten else x.view(-1, 1, 28, 28), binarize="none"))
    return tuple(splits)  # type: ignore[return-value]
