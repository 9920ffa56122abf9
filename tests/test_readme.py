"""The README's Python example runs as written."""
import re
from pathlib import Path

import torch

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "README.md has no python example"
    torch.manual_seed(0)
    namespace: dict = {}
    exec(compile(blocks[0], str(README), "exec"), namespace)  # our own README, not user input
    assert torch.isfinite(namespace["loss"]).all()
    grads = namespace["grad_stats"]["grads"]
    for key in ("variance", "magnitude", "snr", "dsnr"):
        assert torch.isfinite(torch.as_tensor(grads[key])).all(), key
    assert namespace["meta"]["mc_samples"] == 10
