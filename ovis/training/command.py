"""The ``ovis run`` command (``run.py``): its flags and its entry point.

It joins :mod:`ovis.training.arguments` (the flags, imported by the loop) and
:mod:`ovis.training.loop` (which imports the flags' helpers), so that neither imports the other
back. The command's ``--help`` text is the docstring of :mod:`ovis.training.arguments`.

Example:
    >>> import argparse
    >>> from ovis.training.command import add_arguments
    >>> parser = argparse.ArgumentParser()
    >>> add_arguments(parser)
    >>> parser.parse_args(["--estimator", "vimco-arithmetic"]).estimator
    'vimco-arithmetic'
"""
from __future__ import annotations

import argparse

from . import arguments
from .arguments import add_arguments
from .loop import run

__all__ = ["add_arguments", "main", "DESCRIPTION"]

#: what ``ovis run --help`` prints above the flags
DESCRIPTION = arguments.__doc__


def main(args: argparse.Namespace) -> int:
    """Train (or resume) the run described by ``args``; returns the exit code (see :func:`ovis.training.loop.run`)."""
    return run(args)
