"""The admin's session, signed-in user and message store are made for the admin's requests only: an API
request (or the playground's, or /health) carries none of them and never gets a session cookie."""

import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db

ADMIN_PARTS = ("session", "user", "_messages")
SESSION_PARTS = ("session", "_messages")  # (an API view's request gets a `user` from its API key: DRF's)


@pytest.mark.parametrize("path", ["/api/v1/ping", "/health", "/playground/", "/api/v1/ai/image/result/nosuchtask"])
def test_a_request_outside_the_admin_carries_no_session_user_or_messages(client, path):
    response = client.get(path)
    assert response.status_code < 500
    assert not [part for part in SESSION_PARTS if hasattr(response.wsgi_request, part)]
    assert "sessionid" not in response.cookies


def test_the_admin_still_has_its_session_and_signed_in_user(client):
    client.force_login(get_user_model().objects.create_superuser("ops", "ops@example.com", "a-long-password-1"))
    response = client.get("/admin/password_change/")  # (the index's recent actions need $lookup: not FerretDB v1)
    assert response.status_code == 200
    assert response.wsgi_request.user.is_superuser
    assert all(hasattr(response.wsgi_request, part) for part in ADMIN_PARTS)
    assert not hasattr(client.get("/api/v1/ping").wsgi_request, "session")


def test_the_admin_moved_by_admin_url_keeps_them(client, settings):
    settings.ADMIN_URL = "ops-console/"
    response = client.get("/ops-console/anything")  # (the URLconf may have been read already: a 404 then)
    assert all(hasattr(response.wsgi_request, part) for part in ADMIN_PARTS)
    assert not hasattr(client.get("/api/v1/ping").wsgi_request, "session")
