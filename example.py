"""Train your own model with OVIS and look at the gradients: a runnable example (about 30-50 s on a
2-core CPU: it used 47 s of CPU time, measured on a loaded shared machine).

A model implements :class:`ovis.models.TemplateModel`: ``forward(x, reparam=False)`` returns the
distributions ``q(z|x)``, ``p(z)``, ``p(x|z)`` and the samples ``z``; ``sample_from_prior(bs)``
draws from the generative model. Any estimator then trains it; here OVIS with gamma = 1
(Lievin et al., 2020, arXiv:2008.01998) on the 8x8 digits that ship with scikit-learn.

    python example.py
"""
import torch
from torch import nn
from torch.distributions import Bernoulli, Independent
from torch.utils.data import DataLoader

from ovis.analysis import get_gradients_statistics
from ovis.datasets import get_datasets
from ovis.estimators.config import parse_estimator_id
from ovis.models import TemplateModel


class SimpleModel(TemplateModel):
    """A sigmoid belief network: 64 binary pixels, 16 binary latent units."""

    def __init__(self, xdim: int = 64, zdim: int = 16) -> None:
        super().__init__()
        self.inference_network = nn.Linear(xdim, zdim)  # logits of q(z|x)
        self.generative_model = nn.Linear(zdim, xdim)  # logits of p(x|z)
        self.prior_logits = nn.Parameter(torch.zeros(zdim))  # logits of p(z)

    def forward(self, x, reparam=False, **kwargs):
        qz = Independent(Bernoulli(logits=self.inference_network(x)), 1)
        z = qz.sample()  # discrete latents: no reparameterization, score-function estimators
        pz = Independent(Bernoulli(logits=self.prior_logits.expand_as(z)), 1)
        px = Independent(Bernoulli(logits=self.generative_model(z)), 1)
        return {"px": px, "z": [z], "qz": [qz], "pz": [pz]}

    def sample_from_prior(self, bs, **kwargs):
        pz = Independent(Bernoulli(logits=self.prior_logits.expand(bs, -1)), 1)
        z = pz.sample()
        return {"px": Independent(Bernoulli(logits=self.generative_model(z)), 1), "z": [z], "pz": [pz]}


def main() -> None:
    torch.manual_seed(0)
    train, valid, test = get_datasets("digits", flatten=True)  # [64] binary images, embedded in scikit-learn
    loader = DataLoader(train, batch_size=32, shuffle=True)

    model = SimpleModel()
    Estimator, config = parse_estimator_id("ovis-gamma1")
    estimator = Estimator(mc=1, iw=16, **config)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)

    x_test = test.data
    for epoch in range(8):
        for x in loader:
            loss, diagnostics, output = estimator(model, x)
            optimizer.zero_grad()
            loss.mean().backward()
            optimizer.step()
        with torch.no_grad():
            _, test_diagnostics, _ = estimator(model, x_test, iw=1000, sequential_computation=250)
        print(f"epoch {epoch + 1}: train L_16 = {diagnostics['loss']['L_k'].mean():.2f}, "
              f"test L_1000 = {test_diagnostics['loss']['L_k'].mean():.2f}")

    # variance, SNR and DSNR of the inference network's gradient, over 10 independent estimates
    x = next(iter(loader))
    grad_stats, meta = get_gradients_statistics(estimator, model, x, mc_samples=10,
                                                key_filter="inference_network")
    print("gradients of the inference network:",
          ", ".join(f"{k} = {v:.3g}" for k, v in grad_stats["grads"].items()))


if __name__ == "__main__":
    main()
