"""The fake upstream checks what the real one checks: the V4 signature (the documented test vector),
the Bearer key, and the bodies per req_key."""

import hashlib

import requests

from tests.fakes.upstream import canonical_query, signature


def test_signature_matches_the_documented_test_vector():
    body = b'{"req_key":"jimeng_vgfm_t2v_l20","task_id":"abc"}'
    body_hash = hashlib.sha256(body).hexdigest()
    assert body_hash == "2e83d6a6ed2aef0fb0dd7125abe5bad97718ec9bd6be63d52418921ea3133955"
    headers = {
        "content-type": "application/json",
        "host": "visual.volcengineapi.com",
        "x-date": "20240115T120000Z",
        "x-content-sha256": body_hash,
    }
    assert (
        signature(
            secret_key="SKTEST",
            method="POST",
            query="Action=CVSync2AsyncGetResult&Version=2022-08-31",
            headers=headers,
            signed=["content-type", "host", "x-content-sha256", "x-date"],
            body=body,
        )
        == "5cbe194cc35a9fe8a0dcf34cbfc8f10d2c989caa3059aa6fe4f186977c0fef7a"
    )


def test_canonical_query_sorts_and_escapes():
    assert canonical_query("b=2&a=x y&c=~") == "a=x%20y&b=2&c=~"


def test_unsigned_request_gets_the_gateway_error(fake_upstream):
    response = requests.post(
        fake_upstream.url + "/?Action=CVSync2AsyncSubmitTask&Version=2022-08-31",
        json={"req_key": "jimeng_t2i_v30"},
        timeout=5,
    )
    assert response.status_code == 401
    error = response.json()["ResponseMetadata"]["Error"]
    assert error["Code"] == "SignatureDoesNotMatch"
    assert fake_upstream.state.signature_failures == 1


def test_ark_requires_the_bearer_key(fake_upstream):
    response = requests.post(
        fake_upstream.url + "/api/v3/images/generations",
        json={"model": "doubao-seedream-3-0-t2i-250415", "prompt": "x"},
        headers={"Authorization": "Bearer wrong"},
        timeout=5,
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AuthenticationError"
