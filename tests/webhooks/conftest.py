import pytest

from .psp import ADYEN_KEY, ADYEN_OLD_KEY, STRIPE_OLD_SECRET, STRIPE_SECRET


@pytest.fixture(autouse=True)
def _webhook_secrets(settings):
    """Two secrets and two keys configured, as during a rotation: the new one signs by default."""
    settings.STRIPE_WEBHOOK_SECRET = f"{STRIPE_SECRET}, {STRIPE_OLD_SECRET}"
    settings.ADYEN_HMAC_KEY = f"{ADYEN_KEY},{ADYEN_OLD_KEY}"
