"""A trainable inverse ``Cubic`` bijector of a standard normal, fitted by maximum likelihood to the 1-D
mixture 0.45 N(2.3, 0.4^2) + 0.55 N(-0.8, 0.4^2) (the custom-bijector example of TFP's tutorial).

The model is ``x = (cbrt(z) - b) / a`` with ``z ~ N(0, 1)``, i.e. ``TransformedDistribution(Normal(0, 1),
Cubic(a, b).inv)`` with ``a``, ``b`` learned (init 0.25, -0.1), Adam 1e-2, batches of 128 from 10000
points. Saves the figure (data vs model density; training and validation NLL per epoch) and a JSON file.

    python examples/bijector_gmm.py --epochs 10 --out docs/figures
    python examples/bijector_gmm.py --steps 5 --out /tmp/quick      # a quick check
"""
from __future__ import annotations

import argparse
import json
import os
from typing import Dict

import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical, MixtureSameFamily, Normal, TransformedDistribution

from ovis.flows import Cubic, Trainable
from ovis.flows.fit import fit_density, mean_nll


def mixture() -> MixtureSameFamily:
    """0.45 N(2.3, 0.4^2) + 0.55 N(-0.8, 0.4^2)."""
    return MixtureSameFamily(Categorical(torch.tensor([0.45, 0.55])),
                             Normal(torch.tensor([2.3, -0.8]), torch.tensor([0.4, 0.4])))


class InverseCubicNormal(nn.Module):
    """``forward()`` -> ``TransformedDistribution(N(0, 1), Cubic(a, b).inv)`` with learned ``a``, ``b``."""

    def __init__(self, a: float = 0.25, b: float = -0.1) -> None:
        super().__init__()
        self.bijector = Trainable(Cubic, invert=True, a=a, b=b)
        self.register_buffer("zero", torch.tensor(0.0))

    def forward(self) -> TransformedDistribution:
        return TransformedDistribution(Normal(self.zero, torch.ones_like(self.zero)), [self.bijector()])


def main(argv=None) -> Dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--steps", type=int, default=None, help="stop after this many batches (quick runs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="docs/figures")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    target = mixture()
    train, valid = target.sample((10000,)), target.sample((1000,))
    model = InverseCubicNormal()
    steps_per_epoch = -(-train.shape[0] // 128)
    curves = {"train": [mean_nll(model, train)], "valid": [mean_nll(model, valid)]}

    def per_epoch(step: int, loss: float) -> None:
        if step % steps_per_epoch == 0:
            curves["train"].append(mean_nll(model, train))
            curves["valid"].append(mean_nll(model, valid))

    history = fit_density(model, train, epochs=args.epochs, batch_size=128, lr=1e-2, seed=args.seed,
                          max_steps=args.steps, callback=per_epoch)
    a, b = (model.bijector.constrained()[k].item() for k in ("a", "b"))
    result = {"a": a, "b": b, "valid_nll": mean_nll(model, valid), "true_valid_nll": -target.log_prob(valid).mean().item(),
              "initial_valid_nll": curves["valid"][0], "steps": len(history["loss"]), "curves": curves}

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = torch.linspace(-3, 4.5, 600)
    with torch.no_grad():
        model_density = model().log_prob(xs).exp()
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    ax[0].hist(train.numpy(), bins=80, density=True, color="0.8", label="data (histogram)")
    ax[0].plot(xs, target.log_prob(xs).exp(), color="k", lw=1.5, label="data density")
    ax[0].plot(xs, model_density, color="tab:red", lw=1.5, ls="--", label=f"model, a={a:.2f}, b={b:.2f}")
    ax[0].set_xlabel("x"); ax[0].set_ylabel("density"); ax[0].legend()
    ax[0].set_title("inverse Cubic of N(0, 1) vs the mixture")
    ax[1].plot(curves["train"], marker="o", label="train NLL")
    ax[1].plot(curves["valid"], marker="s", label="validation NLL")
    ax[1].axhline(result["true_valid_nll"], color="k", ls=":", label="true density (validation)")
    ax[1].set_xlabel("epoch"); ax[1].set_ylabel("mean NLL (nats)"); ax[1].legend()
    ax[1].set_title("training curves")
    fig.tight_layout()
    os.makedirs(args.out, exist_ok=True)
    fig.savefig(os.path.join(args.out, "bijector_gmm.png"), dpi=90)
    plt.close(fig)
    with open(os.path.join(args.out, "bijector_gmm.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps({k: v for k, v in result.items() if k != "curves"}))
    return result


if __name__ == "__main__":
    main()
