"""Tests of ovis.datasets.mnist (MNIST and Fashion-MNIST) through get_datasets, on tiny IDX files."""
import pytest
import torch

from ovis.datasets import CorruptDataError, MissingDataError, get_datasets

from .formats import random_images, write_idx

NAMES = ["mnist", "fashion"]
LAYOUTS = {  # file names as published (.gz) or decompressed
    "gz": ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz", True),
    "plain": ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte", False),
    "dotted": ("train-images.idx3-ubyte", "t10k-images.idx3-ubyte", False),
}


def make_files(root, name, layout, n_train=30, n_test=10):
    train_name, test_name, compress = LAYOUTS[layout]
    train, test = random_images(n_train, 1), random_images(n_test, 2)
    write_idx(root / name / train_name, train, compress)
    write_idx(root / name / test_name, test, compress)
    return train, test


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("name", NAMES)
def test_splits_and_values(tmp_path, name, layout):
    train, test = make_files(tmp_path, name, layout)
    tr, va, te = get_datasets(name, data_root=str(tmp_path), n_valid=8, binarize="none", check_md5=False)
    assert (len(tr), len(va), len(te)) == (22, 8, 10)
    assert tr[0].shape == (1, 28, 28) and tr[0].dtype == torch.float32
    assert torch.allclose(tr.data[:, 0], torch.from_numpy(train[:22] / 255.0).float())
    assert torch.allclose(va.data[:, 0], torch.from_numpy(train[22:] / 255.0).float())
    assert torch.allclose(te.data[:, 0], torch.from_numpy(test / 255.0).float())


@pytest.mark.parametrize("name", NAMES)
def test_dynamic_binarization(tmp_path, name):
    make_files(tmp_path, name, "plain")
    tr, va, te = get_datasets(name, data_root=str(tmp_path), n_valid=8, flatten=True)
    assert tr[0].shape == (784,)
    draws = torch.stack([tr[0] for _ in range(5)])
    assert set(draws.unique().tolist()) <= {0.0, 1.0}
    assert not all(torch.equal(draws[0], d) for d in draws[1:])  # a fresh draw each access
    assert torch.equal(va[0], va[0]) and set(va.data.unique().tolist()) <= {0.0, 1.0}  # fixed
    again = get_datasets(name, data_root=str(tmp_path), n_valid=8, flatten=True)[2]
    assert torch.equal(te.data, again.data)  # evaluation splits are reproducible


@pytest.mark.parametrize("name", NAMES)
def test_published_checksum_is_verified(tmp_path, name):
    make_files(tmp_path, name, "gz")
    with pytest.raises(CorruptDataError, match="MD5"):
        get_datasets(name, data_root=str(tmp_path), n_valid=8)


@pytest.mark.parametrize("name", NAMES)
def test_missing_files_are_named(tmp_path, name):
    with pytest.raises(MissingDataError) as err:
        get_datasets(name, data_root=str(tmp_path))
    msg = str(err.value)
    assert "train-images-idx3-ubyte.gz" in msg and "t10k-images-idx3-ubyte.gz" in msg
    assert str((tmp_path / name).resolve()) in msg


@pytest.mark.parametrize("name", NAMES)
def test_only_test_file(tmp_path, name):
    test = random_images(20, 3)
    write_idx(tmp_path / name / "t10k-images-idx3-ubyte", test, compress=False)
    with pytest.raises(MissingDataError, match="test_only_split=True"):
        get_datasets(name, data_root=str(tmp_path))
    tr, va, te = get_datasets(name, data_root=str(tmp_path), test_only_split=True, binarize="none")
    assert (len(tr), len(va), len(te)) == (16, 2, 2)
    together = torch.cat([tr.data, va.data, te.data]).reshape(20, -1)
    expected = torch.from_numpy(test.reshape(20, -1) / 255.0).float()
    assert sorted(map(tuple, together.tolist())) == sorted(map(tuple, expected.tolist()))
    other = get_datasets(name, data_root=str(tmp_path), test_only_split=True, binarize="none", seed=1)[0]
    assert not torch.equal(other.data, tr.data)  # the split follows the seed


def test_corrupt_idx_is_reported(tmp_path):
    make_files(tmp_path, "mnist", "plain")
    path = tmp_path / "mnist" / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CorruptDataError, match="t10k-images-idx3-ubyte is corrupt"):
        get_datasets("mnist", data_root=str(tmp_path), n_valid=8)


def test_invalid_n_valid(tmp_path):
    make_files(tmp_path, "mnist", "plain")
    with pytest.raises(ValueError, match="n_valid=30"):
        get_datasets("mnist", data_root=str(tmp_path), n_valid=30)
