"""The performance suite: ``make bench`` (``bench/run.py``) loads a large data set into its own
database and measures every page, list, search, task and export; results in ``docs/PERFORMANCE.md``."""
