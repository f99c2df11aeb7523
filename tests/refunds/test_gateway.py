"""The gateway interface: the sandbox's documented outcomes, and the Stripe gateway against a local fake."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from backoffice.gateway import GatewayTransientError, RefundRequest, RefundStatus, get_gateway
from backoffice.gateway.models import SandboxRefund
from backoffice.gateway.sandbox import SandboxGateway
from backoffice.gateway.stripe_gateway import StripeGateway

from .fake_stripe import FakeStripe


def make_request(amount_minor=2500, key="RFD-000001", charge="ch_test_1", reason="duplicate_charge", **kw):
    return RefundRequest(refund_id=1, reference="RFD-000001", idempotency_key=key, psp="stripe",
                         payment_reference=charge, amount_minor=amount_minor, currency="USD", reason=reason, **kw)


@pytest.fixture
def fake_stripe():
    with FakeStripe() as fake:
        yield fake


# ---------------------------------------------------------------- selection

def test_the_gateway_comes_from_settings(settings):
    settings.PAYMENT_GATEWAY = "sandbox"
    assert isinstance(get_gateway(), SandboxGateway)
    settings.PAYMENT_GATEWAY = "stripe"
    assert isinstance(get_gateway(), StripeGateway)
    settings.PAYMENT_GATEWAY = "paypal"
    with pytest.raises(ImproperlyConfigured):
        get_gateway()


# ---------------------------------------------------------------- sandbox

@pytest.mark.django_db
def test_sandbox_succeeds_by_default_and_replays_the_same_key():
    gateway = SandboxGateway()
    first = gateway.refund(make_request(2500))
    again = gateway.refund(make_request(2500))

    assert first.status == RefundStatus.SUCCEEDED and first.psp_refund_id.startswith("sbx_re_")
    assert again == first
    row = SandboxRefund.objects.get()
    assert (row.attempts, row.status) == (2, "succeeded")


@pytest.mark.django_db
@pytest.mark.parametrize(("amount", "code"), [(2513, "expired_card"), (114, "account_closed")])
def test_sandbox_declines_amounts_ending_in_13_and_14(amount, code):
    result = SandboxGateway().refund(make_request(amount))
    assert (result.status, result.failure_code) == (RefundStatus.FAILED, code)
    assert result.failure_message


@pytest.mark.django_db
def test_sandbox_times_out_once_on_57_after_executing_and_the_retry_returns_the_same_refund():
    gateway = SandboxGateway()
    with pytest.raises(GatewayTransientError):
        gateway.refund(make_request(1057))
    result = gateway.refund(make_request(1057))

    assert result.status == RefundStatus.SUCCEEDED
    row = SandboxRefund.objects.get()
    assert (row.attempts, row.psp_refund_id) == (2, result.psp_refund_id)


@pytest.mark.django_db
@pytest.mark.parametrize(("amount", "settled", "code"), [(1066, RefundStatus.SUCCEEDED, ""),
                                                          (1067, RefundStatus.FAILED, "expired_or_canceled_card")])
def test_sandbox_answers_pending_replays_pending_like_stripe_and_settles_on_retrieve(amount, settled, code):
    gateway = SandboxGateway()
    first = gateway.refund(make_request(amount))
    assert first.status == RefundStatus.PENDING and first.psp_refund_id

    looked_up = gateway.retrieve(make_request(amount, psp_refund_id=first.psp_refund_id))

    assert (looked_up.status, looked_up.failure_code, looked_up.psp_refund_id) == (settled, code, first.psp_refund_id)
    assert gateway.refund(make_request(amount)) == first  # the same key replays the first answer, as Stripe does
    assert SandboxRefund.objects.count() == 1


@pytest.mark.django_db
def test_sandbox_refuses_a_reused_key_for_another_refund():
    gateway = SandboxGateway()
    gateway.refund(make_request(1000))
    result = gateway.refund(make_request(2000))
    assert (result.status, result.failure_code) == (RefundStatus.FAILED, "idempotency_error")
    assert SandboxRefund.objects.get().amount_minor == 1000


# ---------------------------------------------------------------- stripe, against a local fake

def stripe_gateway(fake, **kw):
    return StripeGateway(api_key="sk_test_fake", api_base=fake.url, timeout=kw.pop("timeout", 5), **kw)


def test_stripe_refund_sends_amount_charge_reason_and_our_idempotency_key(fake_stripe):
    result = stripe_gateway(fake_stripe).refund(make_request(2500, key="RFD-000042"))

    assert result.status == RefundStatus.SUCCEEDED and result.psp_refund_id == "re_fake_0001"
    [sent] = fake_stripe.requests
    assert sent["headers"]["idempotency-key"] == "RFD-000042"
    assert sent["headers"]["authorization"] == "Bearer sk_test_fake"
    assert sent["params"]["amount"] == "2500"
    assert sent["params"]["charge"] == "ch_test_1"
    assert sent["params"]["reason"] == "duplicate"
    assert sent["params"]["metadata[refund_reference]"] == "RFD-000001"


def test_stripe_payment_intents_are_refunded_by_payment_intent(fake_stripe):
    stripe_gateway(fake_stripe).refund(make_request(charge="pi_123", reason="goodwill"))
    params = fake_stripe.requests[0]["params"]
    assert params["payment_intent"] == "pi_123" and "charge" not in params and "reason" not in params


@pytest.mark.parametrize(("answer", "status", "code"), [
    (("refund", "pending"), RefundStatus.PENDING, ""),
    (("refund", "requires_action"), RefundStatus.PENDING, ""),
    (("refund", "failed", "expired_or_canceled_card"), RefundStatus.FAILED, "expired_or_canceled_card"),
    (("refund", "canceled"), RefundStatus.FAILED, "refund_canceled"),
    (("error", 400, "charge_already_refunded"), RefundStatus.FAILED, "charge_already_refunded"),
    (("error", 400, "charge_disputed"), RefundStatus.FAILED, "charge_disputed"),
    (("error", 402, "card_declined"), RefundStatus.FAILED, "card_declined"),
])
def test_stripe_answers_map_to_results_and_failure_codes(fake_stripe, answer, status, code):
    fake_stripe.answers = [answer]
    result = stripe_gateway(fake_stripe).refund(make_request())
    assert (result.status, result.failure_code) == (status, code)


@pytest.mark.parametrize("answer", [("status", 500), ("status", 503), ("status", 429), ("status", 409)])
def test_stripe_server_errors_and_rate_limits_are_transient(fake_stripe, answer):
    fake_stripe.answers = [answer]
    with pytest.raises(GatewayTransientError):
        stripe_gateway(fake_stripe).refund(make_request())


def test_stripe_timeout_is_transient_and_the_retry_with_the_same_key_gets_the_one_refund(fake_stripe):
    fake_stripe.hang_first_seconds = 1.0
    gateway = stripe_gateway(fake_stripe, timeout=0.3)

    with pytest.raises(GatewayTransientError) as err:
        gateway.refund(make_request(key="RFD-000007"))
    result = gateway.refund(make_request(key="RFD-000007"))

    assert err.value.code == "psp_timeout"
    assert result.status == RefundStatus.SUCCEEDED
    assert fake_stripe.keys() == ["RFD-000007", "RFD-000007"]
    assert list(fake_stripe.refunds) == [result.psp_refund_id]


def test_stripe_authentication_failure_fails_the_refund(fake_stripe):
    result = StripeGateway(api_key="rk_wrong", api_base=fake_stripe.url).refund(make_request())
    assert (result.status, result.failure_code) == (RefundStatus.FAILED, "psp_authentication_failed")


def test_stripe_without_an_api_key_sends_nothing():
    result = StripeGateway(api_key="", api_base="http://127.0.0.1:9").refund(make_request())
    assert (result.status, result.failure_code) == (RefundStatus.FAILED, "psp_not_configured")


def test_stripe_unreachable_is_transient():
    with pytest.raises(GatewayTransientError):
        StripeGateway(api_key="sk_test_x", api_base="http://127.0.0.1:9", timeout=1).refund(make_request())
