"""A tiny model and data set for training tests (independent of ovis.models and ovis.datasets).

Run as a script, it is ``run.py`` with these builders::

    python tests/training/tiny.py --dataset tiny --model tiny --nsteps 40 --root /tmp/runs

``--model tiny-nan`` produces an infinite log-likelihood from step ``TINY_NAN_STEP`` (env, default 5);
``TINY_SLEEP`` (env, seconds) slows every training forward pass down (for the kill/resume test).
"""
from __future__ import annotations

import os
import sys
import time
from typing import Any, Dict, Tuple

import torch
from torch import Tensor, nn
from torch.distributions import Bernoulli, Independent
from torch.utils.data import Dataset

from ovis.models import TemplateModel

D, H = 6, 4


class TinyData(Dataset):
    def __init__(self, n: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        centers = (torch.rand(3, D, generator=g) > 0.5).float()
        labels = torch.randint(0, 3, (n,), generator=g)
        flips = (torch.rand(n, D, generator=g) < 0.1).float()
        self.data = (centers[labels] + flips) % 2

    def __len__(self) -> int:
        return self.data.shape[0]

    def __getitem__(self, index):
        return self.data[index]


class TinySBN(TemplateModel):
    """One layer of H bernoulli latents; ``nan_step``: from the ``nan_step``-th training forward on,
    ``log p(x|z) = -inf`` (so the loss is infinite)."""

    def __init__(self, nan_step: int = -1, sleep: float = 0.0) -> None:
        super().__init__()
        self.inference_network = nn.Linear(D, H)
        self.generative_model = nn.Linear(H, D)
        self.prior_logits = nn.Parameter(torch.zeros(H))
        self.nan_step, self.sleep, self.calls = nan_step, sleep, 0

    def forward(self, x: Tensor, reparam: bool = False, zs=None, **kw: Any) -> Dict[str, Any]:
        qz = Independent(Bernoulli(logits=self.inference_network(x)), 1)
        z = qz.sample() if zs is None else zs[0]
        pz = Independent(Bernoulli(logits=self.prior_logits.expand_as(z)), 1)
        logits = self.generative_model(z)
        if self.training:
            self.calls += 1
            if self.sleep:
                time.sleep(self.sleep)
            if 0 <= self.nan_step <= self.calls:
                inf = torch.full_like(logits, float("inf"))
                logits = torch.where(logits >= 0, inf, -inf)  # valid (+-inf) logits, non-finite log p(x|z)
        px = Independent(Bernoulli(logits=logits), 1)
        return {"px": px, "z": [z], "qz": [qz], "pz": [pz]}

    def sample_from_prior(self, bs: int, **kw: Any) -> Dict[str, Any]:
        pz = Independent(Bernoulli(logits=self.prior_logits.expand(bs, H)), 1)
        z = pz.sample()
        return {"px": Independent(Bernoulli(logits=self.generative_model(z)), 1), "z": [z], "pz": [pz]}


def build_datasets(config: Dict[str, Any]) -> Tuple[Dataset, Dataset, Dataset]:
    seed = int(config["data_seed"])
    return TinyData(96, seed), TinyData(24, seed + 1), TinyData(24, seed + 2)


def build_model(config: Dict[str, Any], input_shape: Tuple[int, ...], train: Dataset) -> nn.Module:
    assert input_shape == (D,), input_shape
    nan_step = int(os.environ.get("TINY_NAN_STEP", "5")) if config["model"] == "tiny-nan" else -1
    return TinySBN(nan_step=nan_step, sleep=float(os.environ.get("TINY_SLEEP", "0")))


def main(argv=None) -> int:
    from ovis.training import parse_args, run

    torch.set_num_threads(1)
    return run(parse_args(argv), build_datasets=build_datasets, build_model=build_model)


if __name__ == "__main__":
    sys.exit(main())
