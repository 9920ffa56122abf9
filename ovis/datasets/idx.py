"""Reader of the IDX format of the MNIST and Fashion-MNIST files (plain or gzip-compressed).

Format: a 4-byte magic number ``0x00 0x00 <type> <ndim>`` (type ``0x08``: unsigned byte),
then ``ndim`` big-endian uint32 dimensions, then the data in C order. Image files have magic
``0x00000803`` (``[N, rows, cols]``), label files ``0x00000801``.

Reference: LeCun, Cortes, Burges, The MNIST database of handwritten digits (file formats).
"""
from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path
from typing import Optional, Union

import numpy as np

from .files import CorruptDataError

__all__ = ["read_idx", "IMAGES_MAGIC", "LABELS_MAGIC"]

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
_GZIP = b"\x1f\x8b"


def read_idx(path: Union[str, Path], magic: Optional[int] = IMAGES_MAGIC) -> np.ndarray:
    """Read an unsigned-byte IDX file (``.gz`` or plain, detected from its content).

    Arguments:
        path: the file.
        magic: the expected magic number (``None``: any unsigned-byte IDX file).

    Returns:
        a ``uint8`` array with the file's dimensions, e.g. ``[N, 28, 28]``.

    Raises:
        CorruptDataError: truncated or invalid content, naming the file and the problem.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == _GZIP:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:
            raise CorruptDataError(f"{path} is corrupt: it is not a valid gzip file ({err})") from err
    if len(raw) < 4:
        raise CorruptDataError(f"{path} is corrupt: {len(raw)} bytes, too short for an IDX header")
    found = struct.unpack(">I", raw[:4])[0]
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08 or (magic is not None and found != magic):
        expected = f"0x{magic:08X}" if magic is not None else "0x000008NN (unsigned bytes)"
        raise CorruptDataError(f"{path} is corrupt or not an IDX file of this kind: magic number 0x{found:08X}, "
                               f"expected {expected}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise CorruptDataError(f"{path} is corrupt: truncated header")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    size = int(np.prod(dims, dtype=np.int64))
    if len(raw) - header != size:
        raise CorruptDataError(f"{path} is corrupt: the header announces dimensions {dims} "
                               f"({size} bytes of data) but the file holds {len(raw) - header}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)
