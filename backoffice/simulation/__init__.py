"""``manage.py simulate_operations``: a year of dispute and refund work on a frozen clock, with faults.

``engine`` drives it; ``faults`` holds what it breaks on purpose (a broker proxy it can cut, a mail
server it can take down or stall); ``worker_hooks`` is imported by the real Celery worker it starts
(``--include``) so the worker reads the simulated clock.
"""
