"""API keys: required off loopback, hashed at rest, and a user key sees only its own user and tasks."""

import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from rest_framework.test import APIClient

from tests.create import create_task
from users.keys import api_key_create
from users.models import ApiKey
from users.services import user_create

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def world(settings):
    settings.API_KEYS_REQUIRED = True
    user_create(user_id="alice", email="alice@example.com", name="Alice")
    user_create(user_id="bob", email="bob@example.com", name="Bob")
    keys = {
        "own": api_key_create(user_id="alice")[1],
        "other": api_key_create(user_id="bob")[1],
        "service": api_key_create(user_id=None, name="backend")[1],
        "none": None,
    }
    task = create_task(user_id="alice", prompt="a cat", external_task_id="ext-1")
    return {"keys": keys, "task": task.id}


TASK = {"prompt": "a cat", "user_id": "alice"}
# (method, path, body, {caller: expected status})
MATRIX = [
    ("get", "/api/v1/users/alice", None, {"own": 200, "other": 404, "service": 200, "none": 401}),
    ("put", "/api/v1/users/alice", {"name": "A"}, {"own": 200, "other": 404, "service": 200, "none": 401}),
    ("delete", "/api/v1/users/alice", None, {"own": 200, "other": 404, "service": 200, "none": 401}),
    ("get", "/api/v1/users?email=alice@example.com", None, {"own": 200, "other": 404, "service": 200, "none": 401}),
    ("put", "/api/v1/users/alice/share", {"tier": "high"}, {"own": 403, "other": 403, "service": 200, "none": 401}),
    ("post", "/api/v1/users", {"email": "c@example.com"}, {"own": 403, "other": 403, "service": 201, "none": 401}),
    ("post", "/api/v1/ai/image/task", TASK, {"own": 202, "other": 404, "service": 202, "none": 401}),
    ("post", "/api/v1/ai/tasks", TASK, {"own": 202, "other": 404, "service": 202, "none": 401}),
    ("get", "/api/v1/ai/image/result/{task}", None, {"own": 200, "other": 404, "service": 200, "none": 401}),
    ("get", "/api/v1/tasks/{task}", None, {"own": 200, "other": 404, "service": 200, "none": 401}),
    ("post", "/api/v1/tasks/{task}/cancel", None, {"own": 200, "other": 404, "service": 200, "none": 401}),
    ("post", "/api/v1/tasks/{task}/retry", None, {"own": 409, "other": 404, "service": 409, "none": 401}),
    ("get", "/api/v1/tasks/user/alice", None, {"own": 200, "other": 404, "service": 200, "none": 401}),
    ("get", "/api/v1/tasks/user/alice/external/ext-1", None, {"own": 200, "other": 404, "service": 200, "none": 401}),
    ("get", "/api/v1/keys?user_id=alice", None, {"own": 200, "other": 404, "service": 200, "none": 401}),
    ("post", "/api/v1/keys", {"user_id": "alice"}, {"own": 403, "other": 403, "service": 201, "none": 401}),
    ("post", "/api/v1/keys", {"service": True}, {"own": 403, "other": 403, "service": 201, "none": 401}),
    ("get", "/api/v1/ai/models", None, {"own": 200, "other": 200, "service": 200, "none": 401}),
    ("get", "/health", None, {"own": 200, "other": 200, "service": 200, "none": 200}),
]
CASES = [(m, p, b, caller, status) for m, p, b, expected in MATRIX for caller, status in expected.items()]


@pytest.mark.parametrize(
    ("method", "path", "body", "caller", "status"), CASES, ids=[f"{c[0]} {c[1]} as {c[3]}" for c in CASES]
)
def test_cross_tenant_matrix(world, method, path, body, caller, status):
    client = APIClient()
    key = world["keys"][caller]
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
    response = getattr(client, method)(path.format(task=world["task"]), body, format="json", **headers)
    assert response.status_code == status, response.content
    payload = response.json()
    assert payload["success"] is (status < 400)
    if status == 401:
        assert payload["message"] == "Missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'."
    if status == 404:
        assert "alice" not in str(payload.get("data", ""))  # nothing of Alice's leaks


def test_x_api_key_header_and_bad_keys(world):
    client = APIClient()
    assert client.get("/api/v1/users/alice", HTTP_X_API_KEY=world["keys"]["own"]).status_code == 200
    for bad in ("jk_nope_nope", "garbage", world["keys"]["own"][:-2] + "xx"):
        response = client.get("/api/v1/users/alice", HTTP_AUTHORIZATION=f"Bearer {bad}")
        assert response.status_code == 401
        assert response.json() == {"success": False, "message": "Invalid or revoked API key."}
        assert response["WWW-Authenticate"] == 'Bearer realm="jimeng"'


def test_revoked_keys_stop_working(world):
    client = APIClient()
    own = world["keys"]["own"]
    key_id = own.split("_")[1]
    revoked = client.delete(f"/api/v1/keys/{key_id}", HTTP_AUTHORIZATION=f"Bearer {own}")
    assert revoked.status_code == 200 and revoked.json()["data"]["revoked_at"]
    assert client.get("/api/v1/users/alice", HTTP_AUTHORIZATION=f"Bearer {own}").status_code == 401
    bob_key_id = world["keys"]["other"].split("_")[1]
    service = world["keys"]["service"]
    assert client.delete(f"/api/v1/keys/{bob_key_id}", HTTP_AUTHORIZATION=f"Bearer {service}").status_code == 200


def test_keys_are_shown_once_and_never_stored_in_clear(world):
    client = APIClient()
    made = client.post(
        "/api/v1/keys",
        {"user_id": "bob", "name": "phone"},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {world['keys']['service']}",
    ).json()["data"]
    secret = made["key"]
    assert secret.startswith(f"jk_{made['id']}_") and len(secret) > 40
    listed = client.get("/api/v1/keys?user_id=bob", HTTP_AUTHORIZATION=f"Bearer {world['keys']['service']}").json()[
        "data"
    ]
    assert all("key" not in item for item in listed)
    # Read every stored row of the key table, raw: no secret appears anywhere.
    secrets_made = [*filter(None, world["keys"].values()), secret]
    if connection.vendor == "mongodb":
        rows = [str(doc) for doc in connection.get_collection(ApiKey._meta.db_table).find({})]
    else:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT * FROM {ApiKey._meta.db_table}")
            rows = [str(row) for row in cursor.fetchall()]
    assert len(rows) == 4
    for raw in secrets_made:
        assert all(raw not in row and raw.split("_", 2)[2] not in row for row in rows)


def test_loopback_embedded_defaults_need_no_key():
    client = APIClient()  # settings as the suite runs: SERVER_HOST=127.0.0.1, API_AUTH=auto
    assert (
        client.post("/api/v1/ai/image/task", {"prompt": "a cat", "user_id": "user_123"}, format="json").status_code
        == 202
    )


GOOD_SECRET = "k3Y-" + "0123456789abcdefghij" * 3


def _boot(env: dict) -> subprocess.CompletedProcess:
    code = "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='jimeng_server.settings'; django.setup()"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "JIMENG_ENV_FILE": "/nonexistent",
            "JIMENG_DATA_DIR": "/tmp/jimeng-boot-test",
            **env,
        },
        capture_output=True,
        text=True,
    )


def test_a_public_bind_refuses_to_start_insecurely():
    refused = _boot({"SERVER_HOST": "0.0.0.0"})
    assert refused.returncode != 0
    assert "Refusing to start: SERVER_HOST=0.0.0.0" in refused.stderr
    assert "set DJANGO_SECRET_KEY to a long random string" in refused.stderr
    debug = _boot({"SERVER_HOST": "0.0.0.0", "DJANGO_SECRET_KEY": GOOD_SECRET, "DJANGO_DEBUG": "true"})
    assert "turn DJANGO_DEBUG off" in debug.stderr
    no_keys = _boot({"JIMENG_PRODUCTION": "true", "DJANGO_SECRET_KEY": GOOD_SECRET, "API_AUTH": "off"})
    assert "API_AUTH=off is not allowed" in no_keys.stderr
    assert _boot({"SERVER_HOST": "0.0.0.0", "DJANGO_SECRET_KEY": GOOD_SECRET}).returncode == 0


def test_create_api_key_command(world):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("create_api_key", "--service", "--name", "first", stdout=out, stderr=StringIO())
    secret = out.getvalue().strip()
    assert APIClient().get("/api/v1/users/bob", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200
