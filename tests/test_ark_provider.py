"""The Ark provider against the fake: Bearer auth, each model, and each error of the Ark images API."""

import pytest

from providers.ark import ArkProvider
from providers.base import GenerationRequest, UpstreamError
from tests.fakes.upstream import Fault


def _request(model="doubao-seedream-3-0-t2i-250415", **kwargs):
    fields = {"task_id": "t1", "model": model, "prompt": "a red fox", "width": 1024, "height": 1024} | kwargs
    return GenerationRequest(**fields)


@pytest.mark.parametrize(
    ("model", "extra"),
    [
        ("doubao-seedream-3-0-t2i-250415", {"seed": 3}),
        (
            "doubao-seedream-4-0-250828",
            {"width": 2048, "height": 2048, "reference_images": ("https://x/a.png", "https://x/b.png")},
        ),
        ("doubao-seededit-3-0-i2i-250628", {"reference_images": ("https://x/a.png",)}),
    ],
)
def test_each_model_returns_images(upstream_settings, fake_upstream, model, extra):
    images = ArkProvider().generate(_request(model, **extra))
    assert len(images) == 1
    assert images[0].url.startswith(f"http://{fake_upstream.host}/images/")
    assert fake_upstream.state.snapshot()["submissions"] == {"a red fox": 1}


def test_request_body(upstream_settings):
    body = ArkProvider().request_body(
        _request("doubao-seedream-4-0-250828", seed=5, reference_images=("https://x/a.png",))
    )
    assert body == {
        "model": "doubao-seedream-4-0-250828",
        "prompt": "a red fox",
        "size": "1024x1024",
        "response_format": "url",
        "watermark": False,
        "image": "https://x/a.png",
        "sequential_image_generation": "disabled",
    }  # no seed for 4.x
    assert ArkProvider().request_body(_request(seed=5))["seed"] == 5


def test_wrong_key_is_final(upstream_settings):
    upstream_settings.ARK_API_KEY = "wrong"
    with pytest.raises(UpstreamError) as caught:
        ArkProvider().generate(_request())
    assert (caught.value.code, caught.value.retryable) == ("AuthenticationError", False)
    assert caught.value.message == "Ark rejected the API key; check ARK_API_KEY (AuthenticationError)"


ERROR_CASES = [
    (
        "MissingParameter",
        False,
        "invalid request: a required parameter is missing: injected MissingParameter (MissingParameter)",
    ),
    ("InvalidParameter", False, "invalid request: injected InvalidParameter (InvalidParameter)"),
    (
        "InputTextSensitiveContentDetected",
        False,
        "prompt rejected by content moderation (InputTextSensitiveContentDetected)",
    ),
    (
        "InputImageSensitiveContentDetected",
        False,
        "reference image rejected by content moderation (InputImageSensitiveContentDetected)",
    ),
    (
        "OutputImageSensitiveContentDetected",
        True,
        "generated image rejected by content moderation (OutputImageSensitiveContentDetected)",
    ),
    ("AuthenticationError", False, "Ark rejected the API key; check ARK_API_KEY (AuthenticationError)"),
    ("AccountOverdueError", False, "the Volcengine account is overdue; top it up in the console (AccountOverdueError)"),
    ("AccessDenied", False, "Ark denied access to this model for the account (AccessDenied)"),
    (
        "InvalidEndpointOrModel.NotFound",
        False,
        "Ark does not know this model or endpoint, or it is not enabled (InvalidEndpointOrModel.NotFound)",
    ),
    ("RateLimitExceeded.EndpointRPMExceeded", True, "Ark rate limit reached (RateLimitExceeded.EndpointRPMExceeded)"),
    ("InternalServiceError", True, "Ark is unavailable or overloaded (InternalServiceError)"),
    ("ServerOverloaded", True, "Ark is unavailable or overloaded (ServerOverloaded)"),
]


@pytest.mark.parametrize(("code", "retryable", "message"), ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_every_documented_error(upstream_settings, fake_upstream, code, retryable, message):
    fake_upstream.config.faults = [Fault(api="ark", kind="code", code=code, times=1)]
    with pytest.raises(UpstreamError) as caught:
        ArkProvider().generate(_request())
    assert (caught.value.code, caught.value.retryable, caught.value.message) == (code, retryable, message)


def test_unknown_model_from_the_upstream(upstream_settings):
    with pytest.raises(UpstreamError) as caught:
        ArkProvider().generate(_request("doubao-unknown"))
    assert caught.value.code == "InvalidEndpointOrModel.NotFound"


def test_timeout_and_dropped_connection_are_retryable(upstream_settings, fake_upstream):
    upstream_settings.ARK_READ_TIMEOUT_SECONDS = 0.3
    fake_upstream.config.faults = [
        Fault(api="ark", kind="slow", delay=1.0, times=1),
        Fault(api="ark", kind="drop", times=1),
    ]
    for expected in ("timeout", "connection_error"):
        with pytest.raises(UpstreamError) as caught:
            ArkProvider().generate(_request())
        assert (caught.value.code, caught.value.retryable) == (expected, True)
