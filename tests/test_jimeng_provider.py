"""The Jimeng provider against the fake: signed requests through the official SDK, every model, and
every outcome of the visual API's error-code table classified as retry or fail with a readable message."""

import time

import pytest

from providers.base import GenerationRequest, UpstreamError
from providers.jimeng import JimengProvider
from providers.volcengine import error_from_exception, visual_service
from tests.fakes.upstream import Fault


def _request(model="jimeng_t2i_v30", **kwargs):
    fields = {"task_id": "t1", "model": model, "prompt": "一只猫", "width": 1328, "height": 1328} | kwargs
    return GenerationRequest(**fields)


def _until_done(provider, request, upstream_id, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = provider.poll(request, upstream_id)
        if result.done:
            return result
        time.sleep(0.05)
    raise AssertionError("never done")


@pytest.mark.parametrize(
    ("model", "size", "extra", "count"),
    [
        ("jimeng_t2i_v30", (1328, 1328), {"seed": 42}, 1),
        ("jimeng_t2i_v31", (1664, 936), {}, 1),
        (
            "jimeng_t2i_v40",
            (2048, 2048),
            {"reference_images": ("https://example.com/a.png",), "options": {"scale": 0.7}},
            2,
        ),
        ("jimeng_t2i_v40", (2048, 2048), {"options": {"force_single": True}}, 1),
        ("jimeng_seedream46_cvtob", (2304, 1728), {"options": {"scale": 60}}, 2),
    ],
)
def test_every_model_submits_and_polls(upstream_settings, fake_upstream, model, size, extra, count):
    provider = JimengProvider()
    request = _request(model, width=size[0], height=size[1], **extra)
    upstream_id = provider.submit(request)
    assert upstream_id.isdigit()
    first = provider.poll(request, upstream_id)
    assert first.done is False  # in_queue / generating while the fake's latency runs
    result = _until_done(provider, request, upstream_id)
    assert len(result.images) == count
    assert all(
        image.url.startswith(f"http://{fake_upstream.host}/images/{upstream_id}/{size[0]}x{size[1]}/")
        for image in result.images
    )
    state = fake_upstream.state.snapshot()
    assert state["signature_failures"] == 0
    assert state["submissions"] == {"一只猫": 1}


def test_submit_form_follows_the_req_key(upstream_settings):
    provider = JimengProvider()
    v30 = provider.submit_form(_request(seed=7))
    assert v30 == {"req_key": "jimeng_t2i_v30", "prompt": "一只猫", "width": 1328, "height": 1328, "seed": 7}
    v40 = provider.submit_form(
        _request(
            "jimeng_t2i_v40",
            width=2048,
            height=2048,
            seed=7,
            reference_images=("https://x/a.png",),
            options={"scale": 0.3},
        )
    )
    assert v40 == {
        "req_key": "jimeng_t2i_v40",
        "prompt": "一只猫",
        "width": 2048,
        "height": 2048,
        "image_urls": ["https://x/a.png"],
        "scale": 0.3,
    }  # no seed for 4.x, and never return_url/logo_info at submit


def test_wrong_secret_key_is_a_final_auth_failure(upstream_settings, fake_upstream):
    upstream_settings.VOLCENGINE_SECRET_KEY = "not-the-secret"
    with pytest.raises(UpstreamError) as caught:
        JimengProvider().submit(_request())
    assert caught.value.retryable is False
    assert caught.value.code == "SignatureDoesNotMatch"
    assert caught.value.message.startswith(
        "Volcengine rejected the request signature or access key (SignatureDoesNotMatch)"
    )
    assert fake_upstream.state.signature_failures == 1


def test_the_sdk_singleton_trap_cannot_unconfigure_us(upstream_settings, fake_upstream):
    from volcengine.visual.VisualService import VisualService

    assert visual_service(JimengProvider().accounts()[0]).service_info.host == fake_upstream.host
    VisualService()  # somebody else's code: resets host, scheme and keys of the shared instance
    assert JimengProvider().submit(_request()).isdigit()
    assert fake_upstream.state.signature_failures == 0


CODE_CASES = [
    # code, retryable, resubmit, message
    (50411, False, False, "reference image rejected by content moderation (50411)"),
    (50412, False, False, "prompt rejected by content moderation (50412)"),
    (50413, False, False, "prompt rejected by content moderation (sensitive or copyrighted words) (50413)"),
    (50511, True, True, "generated image rejected by content moderation (50511)"),
    (50512, False, False, "generated text rejected by content moderation (50512)"),
    (50518, False, False, "reference image rejected as copyrighted (50518)"),
    (50519, True, True, "generated image rejected as copyrighted (50519)"),
    (50520, False, False, "content moderation service error (50520)"),
    (50521, False, False, "content moderation service error (50521)"),
    (50522, False, False, "content moderation service error (50522)"),
    (50200, False, False, "invalid request (50200): Request Invalid Args"),
    (50201, False, False, "missing request parameter (50201): Request Missing Args"),
    (50204, False, False, "reference image too large (50204)"),
    (50205, False, False, "reference image is empty (50205)"),
    (50206, False, False, "reference image could not be decoded (50206)"),
    (50207, False, False, "reference image size not accepted (50207)"),
    (50213, False, False, "request body too large (50213): Request Body Too Large"),
    (50215, False, False, "input not acceptable (50215): Input Not Acceptable"),
    (
        50400,
        False,
        False,
        "Volcengine refused the credentials, or the Jimeng service is not enabled for this account (50400)",
    ),
    (50429, True, False, "Volcengine rate limit (QPS) reached (50429)"),
    (50430, True, False, "Volcengine concurrency limit reached (50430)"),
    (50500, True, False, "Volcengine internal error (50500)"),
    (50501, True, False, "Volcengine internal error (50501)"),
]


@pytest.mark.parametrize(("code", "retryable", "resubmit", "message"), CODE_CASES, ids=[str(c[0]) for c in CODE_CASES])
@pytest.mark.parametrize("stage", ["submit", "result"])
def test_every_documented_code(upstream_settings, fake_upstream, stage, code, retryable, resubmit, message):
    provider = JimengProvider()
    request = _request()
    upstream_id = provider.submit(request) if stage == "result" else None
    fake_upstream.config.faults = [Fault(api=stage, kind="code", code=code, times=1)]
    with pytest.raises(UpstreamError) as caught:
        provider.submit(request) if stage == "submit" else provider.poll(request, upstream_id)
    error = caught.value
    assert (error.code, error.retryable, error.resubmit, error.message) == (str(code), retryable, resubmit, message)


@pytest.mark.parametrize(("kind", "code"), [("not_found", "not_found"), ("expired", "expired")])
def test_lost_upstream_tasks_ask_for_a_new_generation(upstream_settings, fake_upstream, kind, code):
    provider = JimengProvider()
    upstream_id = provider.submit(_request())
    fake_upstream.config.faults = [Fault(api="result", kind=kind, times=1)]
    with pytest.raises(UpstreamError) as caught:
        provider.poll(_request(), upstream_id)
    assert (caught.value.code, caught.value.retryable, caught.value.resubmit) == (code, True, True)


def test_unknown_upstream_task_is_not_found(upstream_settings):
    with pytest.raises(UpstreamError) as caught:
        JimengProvider().poll(_request(), "123")
    assert caught.value.code == "not_found"


def test_slow_answer_past_the_timeout_is_retryable(upstream_settings, fake_upstream):
    upstream_settings.VOLCENGINE_READ_TIMEOUT_SECONDS = 0.3
    fake_upstream.config.faults = [Fault(api="submit", kind="slow", delay=1.0, times=1)]
    with pytest.raises(UpstreamError) as caught:
        JimengProvider().submit(_request())
    assert (caught.value.code, caught.value.retryable, caught.value.message) == (
        "timeout",
        True,
        "Jimeng did not answer in time (timeout)",
    )


def test_dropped_connection_is_retryable(upstream_settings, fake_upstream):
    fake_upstream.config.faults = [Fault(api="submit", kind="drop", times=1)]
    with pytest.raises(UpstreamError) as caught:
        JimengProvider().submit(_request())
    assert (caught.value.code, caught.value.retryable) == ("connection_error", True)


def test_nobody_listening_is_retryable(upstream_settings):
    upstream_settings.VOLCENGINE_HOST = "127.0.0.1:9"  # discard port: connection refused
    with pytest.raises(UpstreamError) as caught:
        JimengProvider().submit(_request())
    assert (caught.value.code, caught.value.retryable) == ("connection_error", True)


@pytest.mark.parametrize(
    ("text", "code", "retryable"),
    [
        ('b\'{"code": 50429, "message": "limit"}\'', "50429", True),
        (
            'b\'{"ResponseMetadata": {"Error": {"Code": "InvalidActionOrVersion", "Message": "no"}}}\'',
            "InvalidActionOrVersion",
            False,
        ),
        ("b'<html>502 Bad Gateway</html>'", "bad_response", True),
        ("HTTPSConnectionPool(host='x', port=443): Read timed out. (read timeout=30)", "timeout", True),
    ],
)
def test_bare_sdk_exceptions_are_recovered(text, code, retryable):
    error = error_from_exception(Exception(text))
    assert (error.code, error.retryable) == (code, retryable)
