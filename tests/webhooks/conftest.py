import pytest

from tests.refunds.fake_stripe import fake_stripe_configured

from .fake_adyen import FakeAdyen
from .psp import configure_secrets


@pytest.fixture(autouse=True)
def _webhook_secrets(settings):
    configure_secrets(settings)


@pytest.fixture
def fake_stripe(settings):
    """Each payment's PSP is called (``PAYMENT_GATEWAY = "psp"``); Stripe is a local fake."""
    with fake_stripe_configured(settings, gateway="psp", timeout=2) as fake:
        yield fake


@pytest.fixture
def fake_adyen(settings):
    """Each payment's PSP is called (``PAYMENT_GATEWAY = "psp"``); Adyen is a local fake."""
    with FakeAdyen() as fake:
        settings.PAYMENT_GATEWAY = "psp"
        settings.ADYEN_API_KEY = "AQE_test_key"
        settings.ADYEN_MERCHANT_ACCOUNT = "HeliosComputeECOM"
        settings.ADYEN_API_BASE = fake.url
        yield fake
