"""Tests of ovis.datasets.idx: IDX parsing, plain and gzip, and corrupt files."""
import gzip

import numpy as np
import pytest

from ovis.datasets.files import CorruptDataError
from ovis.datasets.idx import LABELS_MAGIC, read_idx

from .formats import idx_bytes, random_images, write_idx


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("shape", [(3, 28, 28), (1, 5, 7)])
def test_roundtrip(tmp_path, compress, shape):
    images = np.random.RandomState(0).randint(0, 256, size=shape).astype(np.uint8)
    path = write_idx(tmp_path / "images", images, compress)
    out = read_idx(path)
    assert out.dtype == np.uint8 and np.array_equal(out, images)


def test_labels_magic(tmp_path):
    labels = np.arange(10, dtype=np.uint8)
    path = tmp_path / "labels"
    path.write_bytes(idx_bytes(labels, magic=LABELS_MAGIC))
    assert np.array_equal(read_idx(path, LABELS_MAGIC), labels)
    with pytest.raises(CorruptDataError, match="magic number 0x00000801, expected 0x00000803"):
        read_idx(path)


@pytest.mark.parametrize("mutate,match", [
    (lambda b: b[:-5], "holds"),                       # truncated data
    (lambda b: b[:10], "truncated header|holds"),        # truncated header
    (lambda b: b"\x00\x00\x0d\x03" + b[4:], "magic number"),  # float data, not unsigned bytes
    (lambda b: b"\x01" + b[1:], "magic number"),
    (lambda b: b[:2], "too short"),
])
def test_corrupt_content(tmp_path, mutate, match):
    path = tmp_path / "bad"
    path.write_bytes(mutate(idx_bytes(random_images(2, 0))))
    with pytest.raises(CorruptDataError, match=match):
        read_idx(path)


def test_corrupt_gzip(tmp_path):
    path = tmp_path / "bad.gz"
    path.write_bytes(gzip.compress(idx_bytes(random_images(2, 0)))[:-12])
    with pytest.raises(CorruptDataError, match="not a valid gzip file"):
        read_idx(path)
