"""Run a sweep's job queue: python manager.py --exp mini --processes 2 (flags: --help)."""
import sys

from ovis.cli import main

if __name__ == "__main__":
    sys.exit(main(["manager", *sys.argv[1:]], prog="manager.py"))
