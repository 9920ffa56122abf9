import pytest

from ovis.sweep.devices import free_gpus, worker_slots


class FakeCuda:
    """``torch.cuda`` stand-in: per GPU (fraction of memory used, utilisation %)."""

    def __init__(self, gpus, nvml=True):
        self.gpus, self.nvml = gpus, nvml

    def is_available(self):
        return bool(self.gpus)

    def device_count(self):
        return len(self.gpus)

    def mem_get_info(self, i):
        total = 80 * 2 ** 30
        return int(total * (1 - self.gpus[i][0])), total

    def utilization(self, i):
        if not self.nvml:
            raise ModuleNotFoundError("pynvml")
        return self.gpus[i][1]


GPUS = [(0.1, 0), (0.9, 0), (0.0, 90), (0.3, 20)]


@pytest.mark.parametrize("max_gpus,max_load,max_memory,expected", [
    (-1, 0.5, 0.5, [0, 3]),
    (1, 0.5, 0.5, [0]),
    (0, 0.5, 0.5, []),
    (-1, 1.0, 1.0, [0, 1, 2, 3]),
    (-1, 0.5, 0.2, [0]),
    (-1, 0.95, 0.5, [0, 2, 3]),
])
def test_free_gpus(max_gpus, max_load, max_memory, expected):
    assert free_gpus(max_gpus, max_load, max_memory, cuda=FakeCuda(GPUS)) == expected


def test_unknown_load_is_ignored_with_a_note(capsys):
    assert free_gpus(cuda=FakeCuda(GPUS, nvml=False)) == [0, 2, 3]
    assert "--max_load not applied" in capsys.readouterr().err


def test_slots_pin_gpus_or_share_the_cpu(monkeypatch):
    slots = worker_slots(processes=2, cuda=FakeCuda(GPUS))
    assert [(s.device, s.env["CUDA_VISIBLE_DEVICES"]) for s in slots] == \
        [("cuda:0", "0"), ("cuda:0", "0"), ("cuda:3", "3"), ("cuda:3", "3")]
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    slots = worker_slots(processes=2, cuda=FakeCuda([]))
    assert [s.device for s in slots] == ["cpu", "cpu"]
    assert slots[0].env == {"CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "4"}
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert worker_slots(processes=3, max_gpus=0)[0].env == {"CUDA_VISIBLE_DEVICES": ""}


def test_busy_gpus_fall_back_to_cpu_with_a_note(capsys):
    assert [s.device for s in worker_slots(1, cuda=FakeCuda([(0.9, 0)]))] == ["cpu"]
    assert "none of the 1 GPUs is free" in capsys.readouterr().err
    with pytest.raises(ValueError, match="processes must be >= 1"):
        worker_slots(0)
