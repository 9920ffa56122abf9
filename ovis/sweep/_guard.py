"""Run a command that dies with its parent: ``python -S _guard.py PPID -- CMD...``.

Linux only. Sets ``PR_SET_PDEATHSIG`` to SIGKILL, checks the parent is still
``PPID`` (it may have died before the flag was set), then ``execv``-s CMD,
which keeps the flag. So when a worker is killed with SIGKILL, its job does
not live on as an orphan that could later write results next to a rerun.

Standard library only and run by path, so it starts in milliseconds and never
imports the package (whose ``__init__`` may grow heavy imports).
"""
import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def main(argv):
    if len(argv) < 4 or argv[2] != "--":
        sys.stderr.write("usage: _guard.py PPID -- COMMAND [ARGS...]\n")
        return 2
    ppid = int(argv[1])
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
        sys.stderr.write("_guard.py: prctl(PR_SET_PDEATHSIG) failed\n")
    if os.getppid() != ppid:  # the parent died before the flag was set
        return 137
    command = argv[3:]
    os.execv(command[0], command)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
