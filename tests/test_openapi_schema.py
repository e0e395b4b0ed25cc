"""The OpenAPI schema tells clients how to authenticate and which headers the API reads."""

import pytest
import yaml
from rest_framework.test import APIClient


@pytest.fixture(scope="module")
def schema():
    return yaml.safe_load(APIClient().get("/api/schema/").content)


def test_the_api_key_schemes_are_described(schema):
    schemes = schema["components"]["securitySchemes"]
    assert schemes["ApiKeyBearer"]["scheme"] == "bearer"
    assert (schemes["ApiKeyHeader"]["in"], schemes["ApiKeyHeader"]["name"]) == ("header", "X-API-Key")
    create = schema["paths"]["/api/v1/ai/image/task"]["post"]
    assert {"ApiKeyBearer": []} in create["security"] and {"ApiKeyHeader": []} in create["security"]


@pytest.mark.parametrize("path", ["/api/v1/ai/image/task", "/api/v1/ai/tasks"])
def test_creates_take_an_idempotency_key(schema, path):
    names = [p["name"] for p in schema["paths"][path]["post"].get("parameters", []) if p["in"] == "header"]
    assert "Idempotency-Key" in names


@pytest.mark.parametrize("path", ["/api/v1/ai/image/result/{task_id}", "/api/v1/tasks/{task_id}"])
def test_result_endpoints_take_prefer_wait(schema, path):
    names = [p["name"] for p in schema["paths"][path]["get"].get("parameters", []) if p["in"] == "header"]
    assert "Prefer" in names
