import io

from ovis.sweep.display import Progress, finished, summary_line


def counts(**kw):
    base = dict(queued=0, running=0, success=0, failed=0, aborted=0)
    base.update(kw)
    return base


def test_quiet_when_not_a_terminal():
    stream = io.StringIO()
    progress = Progress("mini", counts(queued=4), stream=stream)
    progress.update(counts(queued=1, running=1, success=1, failed=1))
    progress.close()
    assert not progress.enabled and stream.getvalue() == ""


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
