import pytest

from .fake_stripe import fake_stripe_configured


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """``with commit(): …`` runs what the block enqueued on commit (the PSP submission) as a real commit would.

    Tests run inside one transaction that never commits; this is the commit."""

    def make():
        return django_capture_on_commit_callbacks(execute=True)

    return make


@pytest.fixture
def fake_stripe(settings):
    """Refunds go to a local fake of Stripe's API that counts every call (``fake_stripe.requests``)."""
    with fake_stripe_configured(settings, gateway="stripe", timeout=0.3) as fake:
        yield fake
