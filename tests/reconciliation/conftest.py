import pytest


@pytest.fixture(autouse=True)
def write_off_limits(db):
    """The default write-off limits (migration reconciliation.0002), back after a flushed database."""
    from reconciliation.defaults import install_defaults
    from reconciliation.models import WriteOffLimit

    install_defaults(WriteOffLimit)
