"""The ``ovis`` command: ``ovis <command> [flags]``; the entry scripts call it too.

Each command lives in its own module, which provides::

    add_arguments(parser: argparse.ArgumentParser) -> None    # its flags
    main(args: argparse.Namespace) -> int                      # its exit code
    DESCRIPTION: str                                           # optional: --help text (default: its docstring)

and is registered in :data:`COMMANDS`. Only the chosen command's module is
imported, so ``ovis manager`` does not pay for torch. ``python manager.py
--exp mini`` is ``ovis manager --exp mini``.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Dict, List, Optional, Tuple

__all__ = ["COMMANDS", "main"]

#: command -> (module, one-line help)
COMMANDS: Dict[str, Tuple[str, str]] = {
    "run": ("ovis.training.command", "train a model with a gradient estimator (resumable run directory)"),
    "manager": ("ovis.sweep.manager", "run the job queue of a sweep (experiments/<exp>.json) locally or on Ray"),
    "dbutils": ("ovis.sweep.dbutils", "inspect and repair the job queue of an experiment"),
    "report": ("ovis.reporting.cli", "tables and figures (CSV, Markdown, PNG, PDF) from the runs of an experiment"),
    "sweeps": ("ovis.experiments", "list the known sweeps (local experiments/ first, then the shipped ones)"),
    "asymptotic-variance": ("ovis.analysis.asymptotic_cli",
                            "gradient SNR against K on the linear Gaussian toy (the OVIS paper's figure 1)"),
    "gmmvi": ("ovis.gmmvi.cli", "fit a Gaussian mixture to a target with GMMVI (resumable run directory)"),
}


def _overview() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    return ("usage: ovis <command> [flags]   (ovis <command> --help; ovis --version)\n\ncommands:\n"
            + "\n".join(lines))


def main(argv: Optional[List[str]] = None, prog: Optional[str] = None) -> int:
    """Dispatch ``argv`` (default ``sys.argv[1:]``) to a command; return its exit code.

    ``prog`` names the program in the command's usage line (default ``ovis <command>``).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_overview())
        return 0 if argv else 2
    if argv[0] in ("-V", "--version"):
        from . import __version__
        print(f"ovis {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"ovis: unknown command {name!r}; choose from {sorted(COMMANDS)}\n\n{_overview()}", file=sys.stderr)
        return 2
    module_name, help_ = COMMANDS[name]
    module = importlib.import_module(module_name)
    description = getattr(module, "DESCRIPTION", None) or module.__doc__ or help_
    parser = argparse.ArgumentParser(prog=prog or f"ovis {name}", description=description.strip(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    module.add_arguments(parser)
    return int(module.main(parser.parse_args(rest)) or 0)


if __name__ == "__main__":
    sys.exit(main())
