"""Run two estimators on the same random draws and compare their gradients."""
from __future__ import annotations

from typing import Dict

import torch


def gradients(estimator, model, x, seed: int = 0, **options) -> Dict[str, torch.Tensor]:
    """``{parameter name: gradient of loss.mean()}`` for one call with ``torch.manual_seed(seed)``."""
    model.zero_grad()
    torch.manual_seed(seed)
    loss = estimator(model, x, **options)[0]
    loss.mean().backward()
    grads = {n: (p.grad.clone() if p.grad is not None else torch.zeros_like(p)) for n, p in model.named_parameters()}
    model.zero_grad()
    return grads


def assert_same(a: Dict[str, torch.Tensor], b: Dict[str, torch.Tensor], prefix: str = "") -> None:
    for name in a:
        if name.startswith(prefix):
            torch.testing.assert_close(a[name], b[name], rtol=1e-10, atol=1e-12, msg=lambda m: f"{name}: {m}")
