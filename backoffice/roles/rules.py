"""Loaded by rules' autodiscovery so the permissions exist before the first request."""

from . import predicates  # noqa: F401
