"""Configuration traps: an unknown API_AUTH, a proxy that makes the internet look local, a low-entropy
secret key, metrics open in production, an admin login that can be guessed at forever."""

import pytest
from django.contrib.auth.models import User as Operator
from django.test import RequestFactory
from rest_framework.test import APIClient

from jimeng_server.proxies import TrustedProxyHeaders
from tests.conftest import skip_on_ferretdb
from tests.test_api_keys import GOOD_SECRET, _boot

TASK = {"prompt": "a cat", "user_id": "user_123"}


def test_api_auth_takes_only_its_documented_values():
    refused = _boot({"API_AUTH": "Required "})
    assert refused.returncode != 0
    assert "API_AUTH='Required ' is not one of auto, required, off" in refused.stderr
    for value in ("auto", "required", "off"):
        assert _boot({"API_AUTH": value}).returncode == 0, value


def test_a_bad_rate_limit_or_network_refuses_to_start():
    assert "API_RATE_LIMIT='10 per minute'" in _boot({"API_RATE_LIMIT": "10 per minute"}).stderr
    assert "'10.0.0.300' in TRUSTED_PROXIES" in _boot({"TRUSTED_PROXIES": "10.0.0.300"}).stderr
    assert "FAIR_SHARE_BY='tenant' is not one of user, key" in _boot({"FAIR_SHARE_BY": "tenant"}).stderr


@pytest.mark.parametrize(
    "secret", ["a" * 60, "abab" * 20, "django-insecure-" + "q7w8e9r0t1y2u3i4o5p6" * 3, "Sh0rt-but-varied!"]
)
def test_a_low_entropy_or_short_secret_key_is_refused_in_production(secret):
    refused = _boot({"JIMENG_PRODUCTION": "true", "DJANGO_SECRET_KEY": secret})
    assert refused.returncode != 0
    assert "set DJANGO_SECRET_KEY to a long random string (50+ characters, 5+ different ones)" in refused.stderr
    assert _boot({"JIMENG_PRODUCTION": "true", "DJANGO_SECRET_KEY": GOOD_SECRET}).returncode == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_X_FORWARDED_FOR": "203.0.113.9"},
        {"HTTP_FORWARDED": "for=203.0.113.9;proto=https"},
        {"HTTP_X_FORWARDED_PROTO": "https"},
        {"HTTP_X_FORWARDED_HOST": "jimeng.example.com"},
        {"HTTP_X_REAL_IP": "203.0.113.9"},
    ],
)
def test_a_request_relayed_by_a_proxy_is_never_local(headers):
    """Embedded mode on loopback needs no key — but not for the internet arriving through nginx."""
    client = APIClient()
    assert client.post("/api/v1/ai/image/task", TASK, format="json").status_code == 202
    relayed = client.post("/api/v1/ai/image/task", TASK, format="json", **headers)
    assert relayed.status_code == 401
    assert relayed.json()["message"].startswith("Missing API key")


@pytest.mark.django_db
def test_a_request_from_a_configured_proxy_is_never_local(settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1/32"]
    assert APIClient().post("/api/v1/ai/image/task", TASK, format="json").status_code == 401


def test_x_forwarded_proto_is_believed_only_from_trusted_proxies(settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.TRUSTED_PROXIES = ["10.0.0.5"]
    secure = TrustedProxyHeaders(lambda request: request.is_secure())
    factory = RequestFactory()
    assert secure(factory.get("/", HTTP_X_FORWARDED_PROTO="https", REMOTE_ADDR="10.0.0.5")) is True
    assert secure(factory.get("/", HTTP_X_FORWARDED_PROTO="https", REMOTE_ADDR="203.0.113.9")) is False
    assert secure(factory.get("/", HTTP_X_FORWARDED_PROTO="https", REMOTE_ADDR="127.0.0.1")) is False


@pytest.mark.django_db
def test_metrics_in_production_without_a_token_answer_only_on_this_machine(settings):
    settings.PRODUCTION = True
    settings.METRICS_TOKEN = ""
    client = APIClient()
    assert client.get("/metrics").status_code == 200
    for relayed in ({"HTTP_X_FORWARDED_FOR": "203.0.113.9"}, {"REMOTE_ADDR": "203.0.113.9"}):
        refused = client.get("/metrics", **relayed)
        assert refused.status_code == 403
        assert refused.json()["message"].startswith("Metrics answer only on this machine")
    settings.METRICS_TOKEN = "t0ken"
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer t0ken").status_code == 200


@pytest.mark.django_db
@skip_on_ferretdb("pipeline updates with $concat (django-axes appends each failed login to its record)")
def test_the_admin_login_locks_out_after_repeated_failures(settings):
    settings.AXES_FAILURE_LIMIT = 3
    Operator.objects.create_superuser("ops", "ops@example.com", "the-right-password-123")
    client = APIClient()
    login = f"/{settings.ADMIN_URL}login/"
    for _ in range(3):
        wrong = client.post(login, {"username": "ops", "password": "guess"}, REMOTE_ADDR="203.0.113.9")
        assert wrong.status_code in (200, 429)
    locked = client.post(login, {"username": "ops", "password": "the-right-password-123"}, REMOTE_ADDR="203.0.113.9")
    assert locked.status_code == 429  # even the right password, while locked out
    elsewhere = client.post(
        login, {"username": "ops", "password": "the-right-password-123"}, REMOTE_ADDR="198.51.100.7"
    )
    assert elsewhere.status_code == 302  # another address is not locked out


@pytest.mark.stack
def test_the_admin_path_is_configurable(make_stack):
    stack = make_stack(env={"ADMIN_URL": "ops-7f3a/"}).start(worker=False)
    assert stack.session.get(stack.url("/ops-7f3a/login/"), timeout=10).status_code == 200
    assert stack.session.get(stack.url("/admin/login/"), timeout=10).status_code == 404
