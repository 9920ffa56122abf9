"""The training data order is a function of (seed, epoch, position)."""
import torch

from ovis.training.data import EpochBatches, epoch_permutation, eval_indices, fetch, mix_seed

from .tiny import TinyData


class ListData(torch.utils.data.Dataset):
    def __init__(self, n):
        self.items = [torch.full((2,), float(i)) for i in range(n)]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i], i  # (x, label): fetch keeps x


class DynamicData(torch.utils.data.Dataset):
    """Samples at access time, from the global random stream (like dynamic binarization)."""

    def __init__(self, n):
        self.data = torch.rand(n, 3)

    def __len__(self):
        return self.data.shape[0]

    def __getitem__(self, index):
        return torch.bernoulli(self.data[index])


def test_mix_seed_is_deterministic_and_spread():
    assert mix_seed(1, 2, 3) == mix_seed(1, 2, 3)
    assert len({mix_seed(0, e) for e in range(1000)}) == 1000
    assert 0 <= mix_seed(2 ** 70, -5) < 2 ** 63


def test_permutation_depends_on_seed_and_epoch():
    a = epoch_permutation(50, 0, 0)
    assert torch.equal(a, epoch_permutation(50, 0, 0))
    assert sorted(a.tolist()) == list(range(50))
    assert not torch.equal(a, epoch_permutation(50, 0, 1)) and not torch.equal(a, epoch_permutation(50, 1, 0))


def test_resuming_mid_epoch_gives_the_remaining_batches():
    data = DynamicData(37)
    full = list(EpochBatches(data, 5, seed=3, epoch=2).iterate(0))
    torch.manual_seed(123)  # the global stream does not matter
    tail = list(EpochBatches(data, 5, seed=3, epoch=2).iterate(4))
    assert len(full) == 8 and full[-1].shape == (2, 3)
    assert all(torch.equal(a, b) for a, b in zip(full[4:], tail))


def test_workers_give_the_same_batches():
    data = DynamicData(20)
    here = list(EpochBatches(data, 4, seed=0, epoch=0).iterate(1, workers=0))
    there = list(EpochBatches(data, 4, seed=0, epoch=0).iterate(1, workers=2))
    assert all(torch.equal(a, b) for a, b in zip(here, there)) and len(here) == len(there) == 4


def test_fetch_tensor_and_item_datasets():
    assert torch.equal(fetch(TinyData(10, 0), torch.tensor([3, 1])), TinyData(10, 0).data[[3, 1]])
    assert fetch(ListData(5), torch.tensor([4, 0]))[:, 0].tolist() == [4.0, 0.0]


def test_eval_indices():
    assert eval_indices(10, None).tolist() == list(range(10))
    assert eval_indices(10, 0).tolist() == list(range(10))
    assert eval_indices(10, 3).tolist() == [0, 1, 2]
    subset = eval_indices(100, 10, seed=1)
    assert torch.equal(subset, eval_indices(100, 10, seed=1)) and len(set(subset.tolist())) == 10
