"""Shared test settings: torch on one thread (tiny models run faster, and parallel test workers
do not fight for the two cores)."""
import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run faster on one thread (and do not fight parallel test workers for cores)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
