"""Fuzzing the API from its own OpenAPI schema (schemathesis): every operation, over a thousand
generated requests in all, and not one answer of 500 or above. `make fuzz`; CI runs it."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from jimeng_server.wsgi import application
from tests import hostile

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.fuzz]

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


@pytest.fixture(autouse=True)
def no_waiting(settings):
    """Nothing runs the tasks the fuzzer creates: answers that would wait for one (long-poll, event
    stream, the OpenAI endpoints) answer at once, as they do when their wait runs out."""
    settings.OPENAI_WAIT_SECONDS = 0
    settings.LONG_POLL_MAX_SECONDS = 0
    settings.SSE_MAX_SECONDS = 0


def _answer_shape_ok(path: str, status: int, body) -> None:
    """Always our envelope — except the OpenAI-compatible endpoints' answers, which are in OpenAI's
    shape (a video object, a list); their views' errors carry both the envelope and OpenAI's `error`."""
    assert isinstance(body, dict), body
    if path.startswith("/v1/") and status < 400:
        return
    assert "success" in body, body
    if "error" in body:
        assert body["error"]["message"] == body["message"], body


EXAMPLES_PER_OPERATION = 60
SEEN: dict[str, int] = {}


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same requests on every run: a failure here is reproducible
)
def test_no_server_errors(case):
    response = case.call()
    SEEN[case.operation.label] = SEEN.get(case.operation.label, 0) + 1
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
    )
    if response.headers.get("Content-Type", "").startswith("application/json"):
        _answer_shape_ok(case.formatted_path, response.status_code, response.json())


def _hostile_requests(operation):
    """The shapes that once answered 500 (tests/hostile.py), fitted to one operation."""
    path = operation.path
    for parameter in operation.path_parameters:
        path = path.replace("{" + parameter.name + "}", "x1")
    method = operation.method.upper()
    yield method, path + f"?page={hostile.HUGE_NUMBER}&page_size={hostile.HUGE_NUMBER}", {}
    yield method, path, {"data": b"{}", "content_type": "application/json", "HTTP_TRANSFER_ENCODING": "chunked"}
    if method in {"POST", "PUT", "PATCH"}:
        for body in (hostile.NESTED_JSON, hostile.NESTED_OBJECT):
            yield method, path, {"data": body, "content_type": "application/json"}
        files = [hostile.bomb_png()] + [hostile.small_png(f"{n}.png") for n in range(150)]
        yield method, path, {"data": {"prompt": "p", "image": files}, "multipart": True}


def test_hostile_shapes_on_every_operation(client):
    seen = 0
    for operation in (result.ok() for result in schema.get_all_operations()):
        for method, path, options in _hostile_requests(operation):
            options = dict(options)
            if options.pop("multipart", False):
                response = client.post(path, options["data"]) if method == "POST" else None
            else:
                response = client.generic(method, path, **options)
            if response is None:
                continue
            seen += 1
            assert response.status_code < 500, f"{method} {path} -> {response.status_code}: {response.content[:300]}"
            if response.get("Content-Type", "").startswith("application/json"):
                _answer_shape_ok(path, response.status_code, response.json())
    assert seen >= 50


def test_coverage_of_the_fuzzing():
    """Runs after the fuzz cases (same module): every operation was exercised, 1000+ requests."""
    operations = {operation.ok().label for operation in schema.get_all_operations()}
    assert operations <= set(SEEN), operations - set(SEEN)
    assert sum(SEEN.values()) >= 1000, SEEN
