"""Inspect a sweep's job queue: python dbutils.py --exp mini --check (flags: --help)."""
import sys

from ovis.cli import main

if __name__ == "__main__":
    sys.exit(main(["dbutils", *sys.argv[1:]], prog="dbutils.py"))
