"""The ``ovis`` command: one entry point, one subcommand per job.

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and
``run(args) -> int`` (the exit status); it is registered here by one line in ``SUBCOMMANDS``
and imported only when chosen, so ``ovis report`` does not import torch training code and
``ovis manager`` does not import matplotlib. The top-level scripts (``run.py``, ``manager.py``,
``dbutils.py``, ``report.py``) call :func:`main` with their subcommand name.

Example::

    ovis report --exp mini --keys dataset,estimator,iw --metrics test:loss/L_k
    python report.py --exp mini ...          # the same
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Dict, Optional, Sequence, Tuple

__all__ = ["SUBCOMMANDS", "main"]

# name -> (module with add_arguments(parser) and run(args), one-line help)
SUBCOMMANDS: Dict[str, Tuple[str, str]] = {
    "report": ("ovis.reporting.cli", "tables and figures from the runs of an experiment"),
}


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``) and run the chosen subcommand; returns its exit
    status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="ovis", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = argv[0] if argv and argv[0] in SUBCOMMANDS else None
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        if name != chosen:
            sub.add_parser(name, help=help_text)
            continue
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=help_text, description=module.__doc__)
        module.add_arguments(command)
        command.set_defaults(_run=module.run)
    args = parser.parse_args(argv)
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
