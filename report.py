"""Tables and figures from the runs of an experiment: python report.py --exp mini --keys dataset,estimator,iw
--metrics test:loss/L_k --pivot_metrics max:test:loss/L_k (flags: --help; see docs/reporting.md)."""
import sys

from ovis.cli import main

if __name__ == "__main__":
    sys.exit(main(["report", *sys.argv[1:]], prog="report.py"))
