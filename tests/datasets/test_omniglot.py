"""Tests of ovis.datasets.omniglot on a tiny chardata.mat in the published layout."""
import numpy as np
import pytest
import scipy.io
import torch

from ovis.datasets import CorruptDataError, MissingDataError, get_datasets

from .formats import write_chardata


def make_file(root, n_train=9, n_test=4):
    rng = np.random.RandomState(0)
    train, test = rng.rand(n_train, 28, 28), rng.rand(n_test, 28, 28)
    train[0] = 0
    train[0, 3, :] = 1  # a horizontal bar in row 3: checks the orientation
    write_chardata(root / "omniglot" / "chardata.mat", train, test)
    return train, test


def test_orientation_and_splits(tmp_path):
    train, test = make_file(tmp_path)
    tr, va, te = get_datasets("omniglot", data_root=str(tmp_path), n_valid=3, binarize="none")
    assert (len(tr), len(va), len(te)) == (6, 3, 4)
    assert tr[0].shape == (1, 28, 28) and tr[0].dtype == torch.float32
    assert torch.equal(tr[0][0, 3], torch.ones(28)) and tr[0].sum() == 28
    assert torch.allclose(tr.data[:, 0], torch.from_numpy(train[:6]).float())
    assert torch.allclose(va.data[:, 0], torch.from_numpy(train[6:]).float())
    assert torch.allclose(te.data[:, 0], torch.from_numpy(test).float())


def test_dynamic_binarization_and_flatten(tmp_path):
    make_file(tmp_path)
    tr, va, te = get_datasets("omniglot", data_root=str(tmp_path), n_valid=3, flatten=True)
    assert tr[1].shape == (784,) and set(tr[1].unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(te[0], te[0])


@pytest.mark.parametrize("content,match", [
    ({"data": np.zeros((784, 3))}, "no array 'testdata'"),
    ({"data": np.zeros((100, 3)), "testdata": np.zeros((784, 2))}, "784 x N"),
    ({"data": 2 * np.ones((784, 3)), "testdata": np.zeros((784, 2))}, "outside"),
])
def test_corrupt_content(tmp_path, content, match):
    (tmp_path / "omniglot").mkdir()
    scipy.io.savemat(str(tmp_path / "omniglot" / "chardata.mat"), content)
    with pytest.raises(CorruptDataError, match=match):
        get_datasets("omniglot", data_root=str(tmp_path), n_valid=1)


def test_unreadable_file(tmp_path):
    (tmp_path / "omniglot").mkdir()
    (tmp_path / "omniglot" / "chardata.mat").write_bytes(b"not a mat file at all" * 10)
    with pytest.raises(CorruptDataError, match="loadmat cannot read it"):
        get_datasets("omniglot", data_root=str(tmp_path))


def test_missing_file(tmp_path):
    with pytest.raises(MissingDataError, match=r"chardata.mat in .*omniglot"):
        get_datasets("omniglot", data_root=str(tmp_path))
