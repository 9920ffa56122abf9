#!/usr/bin/env python
"""Tables and figures from the runs of an experiment: ``python report.py --exp NAME ...``.

Same as ``ovis report``; see ``python report.py --help`` and docs/reporting.md.
"""
import sys

from ovis.cli import main

if __name__ == "__main__":
    sys.exit(main(["report", *sys.argv[1:]]))
