import io

from ovis.sweep.display import Progress, finished, summary_line


def counts(**kw):
    base = dict(queued=0, running=0, success=0, failed=0, aborted=0)
    base.update(kw)
    return base


def test_no_bar_when_not_a_terminal_but_a_line_every_log_every_seconds(monkeypatch):
    import ovis.sweep.display as display

    now = [1000.0]
    monkeypatch.setattr(display.time, "monotonic", lambda: now[0])
    stream, log = io.StringIO(), io.StringIO()
    progress = Progress("mini", counts(queued=4), stream=stream, log_every=60, log_stream=log)
    assert not progress.enabled and not progress.due()
    progress.update(counts(queued=3, running=1))  # too early: nothing
    now[0] += 61
    assert progress.due()
    progress.update(counts(queued=1, running=1, success=1, failed=1))
    now[0] += 30
    progress.update(counts(queued=1, running=1, success=1, failed=1))  # 30 s after the last line: nothing
    now[0] += 3600
    progress.update(counts(running=1, success=2, failed=1))
    progress.close()
    assert stream.getvalue() == ""
    assert log.getvalue().splitlines() == [
        "mini: 4 jobs | 1 success | 1 failed | 0 aborted | 1 running | 1 queued | 0:01:01 elapsed",
        "mini: 4 jobs | 2 success | 1 failed | 0 aborted | 1 running | 0 queued | 1:01:31 elapsed"]
    silent = Progress("mini", counts(queued=4), stream=stream, log_every=0, log_stream=log)
    now[0] += 1e6
    assert not silent.due()


def test_bar_shows_finished_running_and_failed():
    stream = io.StringIO()
    progress = Progress("mini", counts(queued=8, success=2), enabled=True, stream=stream)
    progress.update(counts(queued=3, running=2, success=4, failed=1))
    progress.update(counts(queued=3, running=2, success=4, failed=1, aborted=0))
    text = stream.getvalue()
    assert "mini" in text and "5/10" in text and "running 2, failed 1, aborted 0" in text
    progress.update(counts(queued=3, running=2, success=4, failed=1) | {"queued": 5})  # jobs added
    assert progress.bar.total == 12
    progress.close()


def test_summary_line():
    c = counts(queued=1, running=2, success=3, failed=4, aborted=5)
    assert finished(c) == 12
    assert summary_line("mini", c) == "mini: 15 jobs | 3 success | 4 failed | 5 aborted | 2 running | 1 queued"
