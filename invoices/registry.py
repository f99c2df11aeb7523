"""Registers this app's case types with backoffice.web.registry (filled by the app)."""
