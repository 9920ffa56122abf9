"""Settings for the doctests of ``ovis/`` (collected with ``--doctest-modules``, see pyproject.toml):
torch on one thread, as in tests/conftest.py, so that parallel test workers do not fight for the cores."""
import pytest


@pytest.fixture(autouse=True)
def _doctests_on_one_thread(request):
    from _pytest.doctest import DoctestItem

    if not isinstance(request.node, DoctestItem):
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
