import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from ovis.sweep.procs import guarded, pid_alive, process_start_time, stop_on_signals

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and PR_SET_PDEATHSIG are Linux")


def test_pid_alive():
    assert pid_alive(os.getpid()) and pid_alive(os.getpid(), process_start_time(os.getpid()))
    assert not pid_alive(0) and not pid_alive(-3)
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    time.sleep(0.5)  # exited, not reaped yet: a zombie is not alive
    assert not pid_alive(zombie.pid)
    zombie.wait()
    assert not pid_alive(zombie.pid)


@linux
def test_recycled_pid_is_not_alive():
    assert not pid_alive(os.getpid(), "12345")


@linux
def test_guarded_child_dies_with_its_parent():
    parent = subprocess.Popen(
        [sys.executable, "-c",
         "import subprocess, sys, time; from ovis.sweep.procs import guarded; "
         "p = subprocess.Popen(guarded([sys.executable, '-c', 'import time; time.sleep(60)'])); "
         "print(p.pid, flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    time.sleep(0.3)
    assert pid_alive(child)
    parent.kill()
    parent.wait()
    deadline = time.time() + 5
    while pid_alive(child) and time.time() < deadline:
        time.sleep(0.05)
    assert not pid_alive(child)


@linux
def test_guard_refuses_when_the_parent_is_already_gone():
    argv = guarded([sys.executable, "-c", "print('ran')"])
    argv[3] = "1"  # pretend the parent was pid 1: the real parent (us) differs, as after a death
    out = subprocess.run(argv, capture_output=True, text=True)
    assert out.returncode == 137 and out.stdout == ""


def test_stop_on_signals_sets_the_event_and_restores_handlers():
    before = signal.getsignal(signal.SIGTERM)
    stop = threading.Event()
    with stop_on_signals(stop):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        assert stop.is_set()
    assert signal.getsignal(signal.SIGTERM) is before
