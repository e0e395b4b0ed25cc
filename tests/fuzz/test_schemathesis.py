"""Fuzzing the API from its own OpenAPI schema (schemathesis): every operation, over a thousand
generated requests in all, and not one answer of 500 or above. `make fuzz`; CI runs it."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from jimeng_server.wsgi import application

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.fuzz]

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


@pytest.fixture(autouse=True)
def no_waiting(settings):
    """Nothing runs the tasks the fuzzer creates: answers that would wait for one (long-poll, event
    stream, the OpenAI endpoints) answer at once, as they do when their wait runs out."""
    settings.OPENAI_WAIT_SECONDS = 0
    settings.LONG_POLL_MAX_SECONDS = 0
    settings.SSE_MAX_SECONDS = 0


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
        body = response.json()
        assert isinstance(body, dict) and "success" in body, body  # always the envelope


def test_coverage_of_the_fuzzing():
    """Runs after the fuzz cases (same module): every operation was exercised, 1000+ requests."""
    operations = {operation.ok().label for operation in schema.get_all_operations()}
    assert operations <= set(SEEN), operations - set(SEEN)
    assert sum(SEEN.values()) >= 1000, SEEN
