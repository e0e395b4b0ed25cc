"""Ark (方舟) images API: OpenAI-style, synchronous — one request returns the images.

Seedream 3.0 text-to-image, Seedream 4.x (text and reference images) and SeedEdit 3.0."""

from __future__ import annotations

import base64
import json
import time

import requests
import urllib3
from django.conf import settings

from .base import (
    Account,
    GenerationRequest,
    Image,
    ItemError,
    Provider,
    UpstreamError,
    accounts_parse,
    accounts_problems,
    session_settle,
)
from .specs import ImageSpec

# error.code -> (message, retryable), from the Ark images API's error table.
CODES: dict[str, tuple[str, bool]] = {
    "MissingParameter": ("invalid request: a required parameter is missing", False),
    "InvalidParameter": ("invalid request", False),
    "InputTextSensitiveContentDetected": ("prompt rejected by content moderation", False),
    "InputImageSensitiveContentDetected": ("reference image rejected by content moderation", False),
    "OutputImageSensitiveContentDetected": ("generated image rejected by content moderation", True),
    "OutputVideoSensitiveContentDetected": ("generated video rejected by content moderation", True),
    "AuthenticationError": ("Ark rejected the API key; check ARK_API_KEY", False),
    "AccountOverdueError": ("the Volcengine account is overdue; top it up in the console", False),
    "AccessDenied": ("Ark denied access to this model for the account", False),
    "InvalidEndpointOrModel.NotFound": ("Ark does not know this model or endpoint, or it is not enabled", False),
}
ACCOUNT_DOWN = {"AuthenticationError", "AccountOverdueError", "AccessDenied"}  # the key, not the request
_CREDENTIALS = ("api_key",)
SEED_MODELS = {"doubao-seedream-3-0-t2i-250415", "doubao-seededit-3-0-i2i-250628"}
GROUP_MODELS = {"doubao-seedream-4-0-250828"}
SET_MOST = 15  # images one group generation makes at most


def error_from_response(status: int, body: dict | None) -> UpstreamError:
    error = (body or {}).get("error") or {}
    code = str(error.get("code") or f"http_{status}")
    detail = str(error.get("message") or "")
    if code in CODES:
        text, retryable = CODES[code]
        if code in {"InvalidParameter", "MissingParameter"} and detail:
            text = f"{text}: {detail}"
        if code == "AuthenticationError" and settings.ARK_ACCOUNTS:
            text = "Ark rejected the API key; check the account's api_key in ARK_ACCOUNTS"
        return UpstreamError(f"{text} ({code})", code=code, retryable=retryable, account_down=code in ACCOUNT_DOWN)
    if status == 429 or code.startswith("RateLimitExceeded"):
        return UpstreamError(f"Ark rate limit reached ({code})", code=code, retryable=True, throttled=True)
    if status >= 500:
        return UpstreamError(f"Ark is unavailable or overloaded ({code})", code=code, retryable=True)
    return UpstreamError(f"Ark error {code}: {detail}".rstrip(": "), code=code)


class ArkProvider(Provider):
    name = "ark"
    style = "sync"
    default_concurrency = 8
    models = (
        ImageSpec(
            id="doubao-seedream-3-0-t2i-250415",
            provider="ark",
            label="Seedream 3.0 text-to-image (Ark)",
            aliases=("doubao-seedream-3.0-t2i", "seedream-3.0"),
            recommended_sizes=("1024x1024", "1152x864", "1248x832", "1280x720", "1512x648"),
        ),
        ImageSpec(
            id="doubao-seedream-4-0-250828",
            provider="ark",
            label="Seedream 4.0 (Ark), text and reference images",
            aliases=("doubao-seedream-4.0", "seedream-4.0"),
            default_size=(2048, 2048),
            min_side=720,
            max_side=4096,
            min_area=1280 * 720,
            max_area=4096 * 4096,
            max_aspect=16.0,
            max_reference_images=14,
            set_max=15,
            set_total_max=15,
            recommended_sizes=("2048x2048", "2304x1728", "2496x1664", "2560x1440", "3024x1296"),
        ),
        ImageSpec(
            id="doubao-seededit-3-0-i2i-250628",
            provider="ark",
            label="SeedEdit 3.0 image editing (Ark), one reference image",
            aliases=("doubao-seededit-3.0-i2i", "seededit-3.0"),
            min_reference_images=1,
            max_reference_images=1,
        ),
    )

    def __init__(self):
        self.session = requests.Session()  # connection reuse across tasks in this process
        self._settled_for = ""

    def _session(self) -> requests.Session:
        if self._settled_for != settings.ARK_BASE_URL:
            self._settled_for = settings.ARK_BASE_URL
            session_settle(self.session, settings.ARK_BASE_URL)
        return self.session

    def accounts(self) -> tuple[Account, ...]:
        """ARK_ACCOUNTS, or the single ARK_API_KEY as a pool of one."""
        if settings.ARK_ACCOUNTS:
            return accounts_parse(settings.ARK_ACCOUNTS, _CREDENTIALS)
        return (Account("default", credentials=(settings.ARK_API_KEY,)),)

    def is_configured(self) -> bool:
        return any(all(account.credentials) for account in self.accounts())

    def configuration_problems(self) -> list[tuple[str, str]]:
        if not settings.ARK_ACCOUNTS:
            return []
        problems = accounts_problems("ARK_ACCOUNTS", settings.ARK_ACCOUNTS, _CREDENTIALS)
        if settings.ARK_API_KEY:
            problems.append(("warning", "ARK_ACCOUNTS is set: ARK_API_KEY is not used"))
        return problems

    def request_body(self, request: GenerationRequest) -> dict:
        body: dict = {
            "model": request.model,
            "prompt": request.prompt,
            "size": f"{request.width}x{request.height}",
            "response_format": "url",
            "watermark": settings.ARK_WATERMARK,
        }
        if request.reference_images:
            images = list(request.reference_images)
            body["image"] = images[0] if len(images) == 1 else images
        if request.model in SEED_MODELS and request.seed is not None:
            body["seed"] = request.seed
        if request.model in GROUP_MODELS:
            count = int(request.options.get("n") or 1)
            if count > 1:  # a set: one group generation, each image streamed as soon as it is made
                body["sequential_image_generation"] = "auto"
                body["sequential_image_generation_options"] = {"max_images": count}
                body["stream"] = True
            else:
                body["sequential_image_generation"] = "disabled"
        return body

    def call(self, method: str, path: str, account: str, body: dict | None = None) -> dict:
        """One request to Ark with the account's key: the answer's JSON object, or UpstreamError."""
        return _answer(self.send(method, path, account, body))

    def send(self, method: str, path: str, account: str, body: dict | None = None, stream=False):
        """The HTTP answer to one request to Ark (its body unread with `stream`), or UpstreamError when
        Ark was not reached."""
        url = settings.ARK_BASE_URL.rstrip("/") + path
        (api_key,) = self.account(account).credentials
        try:
            return self._session().request(
                method,
                url,
                json=body,
                headers={"Authorization": f"Bearer {api_key}"},
                timeout=(settings.ARK_CONNECT_TIMEOUT_SECONDS, settings.ARK_READ_TIMEOUT_SECONDS),
                stream=stream,
            )
        except requests.ConnectTimeout:
            raise UpstreamError(
                "could not reach Ark (connection timeout)", code="connection_error", retryable=True
            ) from None
        except requests.Timeout:
            raise UpstreamError(
                "Ark did not answer in time (timeout)", code="timeout", retryable=True, in_flight=method != "GET"
            ) from None
        except requests.RequestException:
            raise UpstreamError(
                "could not reach Ark (connection error)", code="connection_error", retryable=True
            ) from None

    def generate(self, request: GenerationRequest, on_item=None) -> list[Image | ItemError]:
        body = self.request_body(request)
        if body.get("stream"):
            response = self.send("POST", "/images/generations", request.account, body, stream=True)
            with response:
                if response.status_code != 200 or "text/event-stream" not in response.headers.get("Content-Type", ""):
                    _answer(response)  # an error found before the stream started: an ordinary HTTP error
                    raise UpstreamError("Ark answered a stream request without a stream", code="no_stream")
                items = streamed_items(response, on_item)
        else:
            items = answer_items(self.call("POST", "/images/generations", request.account, body))
        if not any(isinstance(item, Image) for item in items):
            errors = [item for item in items if isinstance(item, ItemError)]
            if errors:
                raise error_from_response(400, {"error": {"code": errors[0].code, "message": errors[0].message}})
            raise UpstreamError("Ark answered without an image", code="no_image", retryable=True)
        return items


def _answer(response: requests.Response) -> dict:
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if response.status_code != 200 or not isinstance(answer, dict):
        raise error_from_response(response.status_code, answer if isinstance(answer, dict) else None)
    return answer


def _item(payload: dict, index: int) -> Image | ItemError | None:
    """One `data` item or stream event: an image, a failed item of a set, or nothing usable."""
    index = payload.get("image_index", index)
    index = index if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < SET_MOST else None
    if index is None:
        return None
    if isinstance(payload.get("error"), dict):
        error = error_from_response(400, {"error": payload["error"]})
        return ItemError(index=index, code=error.code, message=error.message)
    if isinstance(payload.get("url"), str) and payload["url"]:
        return Image(url=payload["url"], index=index)
    if isinstance(payload.get("b64_json"), str) and payload["b64_json"]:
        try:
            return Image(data=base64.b64decode(payload["b64_json"], validate=True), index=index)
        except ValueError:
            return None
    return None


def answer_items(body: dict) -> list[Image | ItemError]:
    data = body.get("data")
    items = [
        _item(entry, n) for n, entry in enumerate(data if isinstance(data, list) else []) if isinstance(entry, dict)
    ]
    return [item for item in items if item is not None][:SET_MOST]


def _arriving(response: requests.Response):
    """The body's bytes as they arrive. (`iter_content(n)` waits until it has n bytes or the end: a
    stream of small events would be handed on only when it ended.)"""
    while True:
        try:
            chunk = response.raw.read1(65536, decode_content=True)
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise requests.ConnectionError(str(error)) from None
        if not chunk:
            return
        yield chunk


def sse_events(response: requests.Response, *, line_most: int):
    """(event name, data) of a server-sent event stream, each line bounded by `line_most` bytes."""
    buffer, event, data = b"", "", []
    for chunk in _arriving(response):
        buffer += chunk
        while True:
            line, found, rest = buffer.partition(b"\n")
            if not found:
                if len(buffer) > line_most:
                    raise UpstreamError("Ark sent a stream line over the size limit", code="bad_output")
                break
            buffer = rest
            if len(line) > line_most:
                raise UpstreamError("Ark sent a stream line over the size limit", code="bad_output")
            text = line.rstrip(b"\r").decode("utf-8", "replace")
            if not text:
                if data:
                    yield event, "\n".join(data)
                event, data = "", []
            elif text.startswith("event:"):
                event = text[6:].strip()
            elif text.startswith("data:"):
                data.append(text[5:].lstrip())


def streamed_items(response: requests.Response, on_item=None) -> list[Image | ItemError]:
    """A group generation's stream: each image or failed item handed to `on_item` as it arrives,
    until `[DONE]`. A stream cut short is an UpstreamError (the images before it were handed on)."""
    items: list[Image | ItemError] = []
    deadline = time.monotonic() + settings.TASK_DEADLINE_SECONDS
    line_most = settings.IMAGE_DOWNLOAD_MAX_BYTES * 4 // 3 + 4096  # one image as base64, with its fields
    try:
        for event, data in sse_events(response, line_most=line_most):
            if data == "[DONE]":
                return items
            if time.monotonic() > deadline or len(items) >= SET_MOST:
                raise UpstreamError("Ark's stream went on past its bounds", code="bad_output")
            try:
                payload = json.loads(data)
            except ValueError:
                continue
            if not isinstance(payload, dict):
                continue
            kind = event or str(payload.get("type") or "")
            if kind == "error" or (not kind and isinstance(payload.get("error"), dict)):
                raise error_from_response(500, payload)
            if kind not in ("image_generation.partial_succeeded", "image_generation.partial_failed"):
                continue  # completed (its usage), or a type we do not know: nothing to keep
            item = _item(payload, len(items))
            if item is not None:
                items.append(item)
                if on_item is not None:
                    on_item(item)
    except requests.RequestException:
        raise UpstreamError("Ark's stream was cut off", code="stream_cut", retryable=True, in_flight=True) from None
    raise UpstreamError("Ark's stream ended without [DONE]", code="stream_cut", retryable=True, in_flight=True)


PROVIDER = ArkProvider
