import pytest

from .fake_stripe import FakeStripe


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
    fake = FakeStripe().start()
    settings.PAYMENT_GATEWAY = "stripe"
    settings.STRIPE_API_KEY = "sk_test_fake"
    settings.STRIPE_API_BASE = fake.url
    settings.STRIPE_TIMEOUT_SECONDS = 0.3
    yield fake
    fake.stop()
