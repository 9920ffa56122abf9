"""Fit a Gaussian mixture to a 2-D star-shaped target with GMMVI and draw the result.

The target is a mixture of five narrow, rotated Gaussians (the "star" of Lin et al., 2019).
GMMVI (code word SAMTRON: Stein gradients, adaptive number of components, component-based
samples, trust regions, improvement-based step sizes) starts from one broad component and
adds components where the target is under-covered. The figure shows the target's contours,
samples of the fitted mixture and each component's 2-sigma ellipse (line width ~ weight).

Run:  python examples/gmmvi_2d.py [--iterations 300] [--out docs/figures/gmmvi_2d.png]
"""
import argparse
import math

import torch

from ovis.gmmvi import GMMVI, default_algorithm_config, merge
from ovis.gmmvi.targets import GaussianMixtureTarget


def star_target(arms: int = 5) -> GaussianMixtureTarget:
    means, covs = [], []
    for k in range(arms):
        a = 2 * math.pi * k / arms
        U = torch.tensor([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]], dtype=torch.float64)
        means.append(U @ torch.tensor([1.5, 0.0], dtype=torch.float64))
        covs.append(U @ torch.diag(torch.tensor([1.0, 0.01], dtype=torch.float64)) @ U.T)
    return GaussianMixtureTarget(torch.full((arms,), 1.0 / arms), torch.stack(means), torch.stack(covs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="docs/figures/gmmvi_2d.png")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)

    target = star_target()
    config = merge(default_algorithm_config("SAMTRON"), {
        "model_initialization": {"num_initial_components": 1, "prior_mean": 0.0, "prior_scale": 2.0,
                                 "initial_cov": 4.0},
        "num_component_adapter_config": {"add_iters": 10, "del_iters": 50},
    })
    gmmvi = GMMVI.build_from_config(config, target)
    for it in range(1, args.iterations + 1):
        gmmvi.train_iter()
        if it % 50 == 0:
            e = gmmvi.elbo(5000)
            print(f"iteration {it:4d}: -ELBO {-e['elbo']:.4f} (log Z = 0), {gmmvi.model.num_components} components, "
                  f"{gmmvi.num_target_evaluations} target evaluations")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    q = gmmvi.model
    g = torch.linspace(-3, 3, 300, dtype=torch.float64)
    X, Y = torch.meshgrid(g, g, indexing="xy")
    grid = torch.stack((X.reshape(-1), Y.reshape(-1)), 1)
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.2))
    for ax, (title, logp) in zip(axes, (("target log-density", target.log_density(grid)),
                                        ("fitted mixture log-density", q.log_density(grid)))):
        ax.contourf(X, Y, logp.reshape(X.shape).clamp(min=-12), levels=30, cmap="viridis")
        ax.set_title(title)
        ax.set_aspect("equal")
    x, _ = q.sample(1500)
    axes[0].scatter(x[:, 0], x[:, 1], s=2, c="white", alpha=0.5, label="samples of q")
    t = torch.linspace(0, 2 * math.pi, 100, dtype=torch.float64)
    circle = torch.stack((t.cos(), t.sin()))
    w = q.weights
    for k in range(q.num_components):
        if w[k] < 1e-3:
            continue
        ell = q.means[k].unsqueeze(1) + 2 * q.chols[k] @ circle
        for ax in axes:
            ax.plot(ell[0], ell[1], color="red", lw=0.5 + 8 * float(w[k]))
    axes[0].legend(loc="lower left", fontsize=8)
    e = gmmvi.elbo(20000)
    fig.suptitle(f"GMMVI (SAMTRON) on a 5-arm star: {q.num_components} components, -ELBO = {-e['elbo']:.3f} "
                 f"(KL to the target), {gmmvi.num_target_evaluations} target evaluations", fontsize=10)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
