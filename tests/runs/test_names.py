"""ovis.runs.names: the file names of a run directory and how run directories are found."""
from ovis.runs import RunDirectory
from ovis.runs.names import (CHECKPOINT, CONFIG, EVENTS, METRICS, STATUS, STATUSES, event_files,
                             find_run_directories)


def test_the_names_are_the_ones_every_part_reads_and_writes(tmp_path):
    rd = RunDirectory(str(tmp_path / "r"))
    assert (CONFIG, STATUS, METRICS, CHECKPOINT) == ("config.json", "status.json", "metrics.jsonl", "checkpoint.pt")
    assert [rd.config_path, rd.status_path, rd.metrics_path, rd.checkpoint_path] == \
        [str(tmp_path / "r" / n) for n in (CONFIG, STATUS, METRICS, CHECKPOINT)]
    assert STATUSES == ("running", "success", "failed") and EVENTS == "events.out.tfevents.*"


def test_event_files_and_run_directories(tmp_path):
    exp = tmp_path / "exp[1]"  # glob characters in the path are taken literally
    (exp / "b").mkdir(parents=True)
    (exp / "a").mkdir()
    (exp / "file.json").write_text("{}")
    for name in ("events.out.tfevents.2.host", "events.out.tfevents.1.host", "other"):
        (exp / "a" / name).write_text("")
    assert [p.rsplit("/", 1)[1] for p in find_run_directories(str(exp))] == ["a", "b"]
    assert [p.rsplit("/", 1)[1] for p in event_files(str(exp / "a"))] == ["events.out.tfevents.1.host",
                                                                          "events.out.tfevents.2.host"]
    assert event_files(str(exp / "b")) == []
