"""Tests of ovis.datasets.binmnist (Larochelle's fixed binarization) on tiny .amat files."""
import numpy as np
import pytest
import torch

from ovis.datasets import CorruptDataError, MissingDataError, get_datasets
from ovis.datasets.binmnist import read_amat

from .formats import write_amat

SPLITS = {"train": 5, "valid": 3, "test": 2}


def make_files(root):
    rows = {}
    for i, (split, n) in enumerate(SPLITS.items()):
        rows[split] = np.random.RandomState(i).randint(0, 2, size=(n, 784))
        write_amat(root / "binmnist" / f"binarized_mnist_{split}.amat", rows[split])
    return rows


@pytest.mark.parametrize("flatten", [False, True])
def test_loads_the_three_files(tmp_path, flatten):
    rows = make_files(tmp_path)
    splits = get_datasets("binmnist", data_root=str(tmp_path), flatten=flatten)
    for ds, (split, n) in zip(splits, SPLITS.items()):
        assert len(ds) == n
        assert ds[0].shape == ((784,) if flatten else (1, 28, 28)) and ds[0].dtype == torch.float32
        assert torch.equal(ds.data.reshape(n, 784), torch.from_numpy(rows[split]).float())
        assert torch.equal(ds[1], ds[1])  # fixed binarization


@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_read_amat_line_endings(tmp_path, line_end):
    path = tmp_path / "x.amat"
    path.write_text(line_end.join(["0 1 1", "1 0 0"]) + line_end, newline="")
    assert np.array_equal(read_amat(path, width=3), [[0, 1, 1], [1, 0, 0]])


@pytest.mark.parametrize("content,match", [
    ("0 1 2\n", "byte 4"),
    ("0 1 1\n0 1\n", r"lines hold \[2, 3\] values"),
    ("0 1 x\n", "expected space-separated 0/1"),
])
def test_corrupt_amat(tmp_path, content, match):
    make_files(tmp_path)
    path = tmp_path / "binmnist" / "binarized_mnist_valid.amat"
    path.write_text(content)
    with pytest.raises(CorruptDataError, match=match):
        read_amat(path, width=3)
    with pytest.raises(CorruptDataError, match="binarized_mnist_valid.amat is corrupt"):
        get_datasets("binmnist", data_root=str(tmp_path))


def test_missing_files_are_named(tmp_path):
    make_files(tmp_path)
    (tmp_path / "binmnist" / "binarized_mnist_test.amat").unlink()
    with pytest.raises(MissingDataError, match=r"missing file\(s\) binarized_mnist_test.amat in .*binmnist"):
        get_datasets("binmnist", data_root=str(tmp_path))
