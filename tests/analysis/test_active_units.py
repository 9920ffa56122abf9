"""Active units (Burda et al., 2016): units whose posterior mean varies with x."""
import pytest
import torch
from torch import nn
from torch.distributions import Independent, Normal

from ovis.analysis.active_units import active_units, posterior_means
from ovis.models import TemplateModel


class HalfActive(TemplateModel):
    """q(z|x) = N(mean, 0.1): the first `active` units follow x, the others are constant."""

    def __init__(self, D=4, active=2):
        super().__init__()
        self.D, self.active = D, active
        self.inference_network = nn.Identity()

    def forward(self, x, reparam=False, **kw):
        mean = torch.cat([3 * x[:, :self.active], torch.zeros_like(x[:, self.active:])], 1)
        qz = Independent(Normal(mean, 0.1), 1)
        z = qz.sample()
        pz = Independent(Normal(torch.zeros_like(z), 1.0), 1)
        return {"px": Independent(Normal(z, 1.0), 1), "z": [z], "qz": [qz], "pz": [pz]}


@pytest.mark.parametrize("active", [0, 1, 3])
def test_counts_the_units_that_depend_on_x(active):
    torch.manual_seed(0)
    x = torch.randn(200, 4)
    out = active_units(HalfActive(active=active), x, mc_samples=50)["active_units"]
    assert out["au"].item() == active and out["au_l0"].item() == active
    assert out["au_ratio"].item() == pytest.approx(active / 4)


def test_posterior_means_in_chunks_and_from_batches():
    torch.manual_seed(0)
    model, x = HalfActive(), torch.randn(10, 4)
    means = posterior_means(model, x, mc_samples=400, max_rows=64)[0]
    torch.testing.assert_close(means[:, :2], 3 * x[:, :2], atol=0.05, rtol=0)
    batches = [x[:4], x[4:]]
    assert active_units(model, batches, mc_samples=20, npoints=7)["active_units"]["au"].item() == 2
