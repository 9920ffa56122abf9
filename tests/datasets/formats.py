"""Writers of tiny data files in the real published formats (IDX, .amat, .mat)."""
import gzip
import struct
from pathlib import Path

import numpy as np


def idx_bytes(images: np.ndarray, magic: int = 0x00000803) -> bytes:
    """IDX encoding of a uint8 array (magic number, big-endian dimensions, C-order data)."""
    images = np.asarray(images, dtype=np.uint8)
    return struct.pack(">I", magic) + struct.pack(f">{images.ndim}I", *images.shape) + images.tobytes()


def write_idx(path: Path, images: np.ndarray, compress: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = idx_bytes(images)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def write_amat(path: Path, rows: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(" ".join(str(int(v)) for v in row) + "\n" for row in rows))
    return path


def write_chardata(path: Path, train: np.ndarray, test: np.ndarray) -> Path:
    """``chardata.mat`` layout: one image per column, each flattened in Fortran order."""
    import scipy.io

    def columns(images):
        return np.stack([img.flatten(order="F") for img in images], axis=1).astype(np.float64)

    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(str(path), {"data": columns(train), "testdata": columns(test)})
    return path


def random_images(n: int, seed: int, size: int = 28) -> np.ndarray:
    return np.random.RandomState(seed).randint(0, 256, size=(n, size, size)).astype(np.uint8)
