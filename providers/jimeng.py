"""Jimeng (即梦) through Volcengine's official SDK: submit a generation, then poll for it.

The SDK's `VisualService` is a singleton whose constructor resets host, scheme and keys; it is built
and configured here and nowhere else. Every outcome — business codes, gateway errors, the SDK's bare
exceptions, timeouts — is classified into retry or fail with a message a user can read."""

from __future__ import annotations

import ast
import base64
import json
import logging
import threading

from django.conf import settings

from .base import (
    Account,
    GenerationRequest,
    Image,
    ModelSpec,
    PollResult,
    Provider,
    UpstreamError,
    Video,
    accounts_parse,
    accounts_problems,
    session_settle,
)

log = logging.getLogger(__name__)

SUCCESS = 10000
# code -> (message, retryable, needs a new generation), from Volcengine's error-code table for the visual API.
CODES: dict[int, tuple[str, bool, bool]] = {
    50411: ("reference image rejected by content moderation", False, False),
    50412: ("prompt rejected by content moderation", False, False),
    50413: ("prompt rejected by content moderation (sensitive or copyrighted words)", False, False),
    50511: ("generated image rejected by content moderation", True, True),
    50512: ("generated text rejected by content moderation", False, False),
    50518: ("reference image rejected as copyrighted", False, False),
    50519: ("generated image rejected as copyrighted", True, True),
    50520: ("content moderation service error", False, False),
    50521: ("content moderation service error", False, False),
    50522: ("content moderation service error", False, False),
    50200: ("invalid request", False, False),
    50201: ("missing request parameter", False, False),
    50204: ("reference image too large", False, False),
    50205: ("reference image is empty", False, False),
    50206: ("reference image could not be decoded", False, False),
    50207: ("reference image size not accepted", False, False),
    50213: ("request body too large", False, False),
    50215: ("input not acceptable", False, False),
    50400: ("Volcengine refused the credentials, or the Jimeng service is not enabled for this account", False, False),
    50429: ("Volcengine rate limit (QPS) reached", True, False),
    50430: ("Volcengine concurrency limit reached", True, False),
    50500: ("Volcengine internal error", True, False),
    50501: ("Volcengine internal error", True, False),
}
# Gateway errors (ResponseMetadata.Error.Code) that a later try may get past.
RETRYABLE_GATEWAY = {
    "RequestLimitExceeded",
    "FlowLimitExceeded",
    "ServiceUnavailable",
    "InternalError",
    "InternalServiceError",
}
AUTH_GATEWAY = {
    "SignatureDoesNotMatch",
    "InvalidAccessKey",
    "InvalidCredential",
    "MissingAuthenticationToken",
    "AccessDenied",
}

_client_lock = threading.Lock()
_clients: dict[str, object] = {}  # account name -> its own VisualService
_CREDENTIALS = ("access_key", "secret_key")


def _current(client) -> tuple:
    info = client.service_info
    credentials = info.credentials
    return (credentials.ak, credentials.sk, info.host, info.scheme, info.connection_timeout, info.socket_timeout)


def visual_service(account: Account | None = None):
    """The configured VisualService of an account (None: the first). Each account has an instance of
    its own, made without the SDK's constructor: `VisualService()` returns one shared instance and
    resets its host, scheme and keys on every call, so one account's keys would leak into another's
    requests. The configuration is still checked (not just remembered) on every use."""
    account = account or JimengProvider().accounts()[0]
    access_key, secret_key = ((*account.credentials, "", ""))[:2]
    wanted = (
        access_key,
        secret_key,
        settings.VOLCENGINE_HOST,
        settings.VOLCENGINE_SCHEME,
        settings.VOLCENGINE_CONNECT_TIMEOUT_SECONDS,
        settings.VOLCENGINE_READ_TIMEOUT_SECONDS,
    )
    with _client_lock:
        client = _clients.get(account.name)
        if client is None:
            from volcengine.visual.VisualService import VisualService

            client = object.__new__(VisualService)  # not VisualService(): that is the shared singleton
            VisualService.__init__(client)
            _clients[account.name] = client
        if _current(client) != wanted:
            access_key, secret_key, host, scheme, connect_timeout, read_timeout = wanted
            client.set_ak(access_key)
            client.set_sk(secret_key)
            client.set_host(host)
            client.set_scheme(scheme)
            client.set_connection_timeout(connect_timeout)
            client.set_socket_timeout(read_timeout)
            session_settle(client.session, f"{scheme}://{host}/")
        return client


def error_from_code(code: int, message: str) -> UpstreamError:
    known = CODES.get(code)
    if known is None:
        return UpstreamError(f"Jimeng error {code}: {message}", code=str(code))
    text, retryable, resubmit = known
    detail = f": {message}" if code in {50200, 50201, 50213, 50215} and message else ""
    return UpstreamError(
        f"{text} ({code}){detail}",
        code=str(code),
        retryable=retryable,
        resubmit=resubmit,
        account_down=code == 50400,
        throttled=code in {50429, 50430},
    )


def error_from_body(body: dict) -> UpstreamError | None:
    if isinstance(body.get("code"), int):
        return error_from_code(body["code"], str(body.get("message") or ""))
    gateway = (body.get("ResponseMetadata") or {}).get("Error")
    if isinstance(gateway, dict):
        code = str(gateway.get("Code", ""))
        if code in AUTH_GATEWAY:
            return UpstreamError(
                f"Volcengine rejected the request signature or access key ({code}); check "
                + (
                    "the account's keys in VOLCENGINE_ACCOUNTS"
                    if settings.VOLCENGINE_ACCOUNTS
                    else "VOLCENGINE_ACCESS_KEY and VOLCENGINE_SECRET_KEY"
                ),
                code=code,
                account_down=True,
            )
        return UpstreamError(
            f"Volcengine gateway error {code}: {gateway.get('Message', '')}",
            code=code,
            retryable=code in RETRYABLE_GATEWAY,
            throttled=code in {"RequestLimitExceeded", "FlowLimitExceeded"},
        )
    return None


def error_from_exception(exc: Exception) -> UpstreamError:
    """The SDK raises a bare Exception: its text is the bytes repr of a non-200 body, or the text of
    a connection error or timeout."""
    text = str(exc)
    try:
        raw = ast.literal_eval(text)
        body = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    except (ValueError, SyntaxError, TypeError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict):
        error = error_from_body(body)
        if error is not None:
            return error
    lowered = text.lower()
    if "timed out" in lowered or "timeout" in lowered:
        return UpstreamError("Jimeng did not answer in time (timeout)", code="timeout", retryable=True, in_flight=True)
    if any(word in lowered for word in ("connection", "remote end closed", "max retries", "reset by peer")):
        return UpstreamError("could not reach Jimeng (connection error)", code="connection_error", retryable=True)
    return UpstreamError(f"unexpected answer from Jimeng: {text[:200]}", code="bad_response", retryable=True)


RATIOS = ("16:9", "4:3", "1:1", "3:4", "9:16", "21:9")
FRAMES = {5: 121, 10: 241}  # seconds -> `frames`, the only two values the video req_keys take


def _video(id: str, label: str, resolution: str, images: tuple[int, int], ratios=RATIOS, aliases=()) -> ModelSpec:
    return ModelSpec(
        id=id,
        provider="jimeng",
        label=label,
        kind="video",
        aliases=aliases,
        durations=(5, 10),
        ratios=ratios,
        resolutions=(resolution,),
        min_reference_images=images[0],
        max_reference_images=images[1],
    )


VIDEO_MODELS = (
    ModelSpec(
        id="jimeng_v30",
        provider="jimeng",
        label="Jimeng 3.0 video, 720p: text-to-video, or first frame (1 image), or first and last frame (2)",
        kind="video",
        aliases=("jimeng-video-3.0",),
        durations=(5, 10),
        ratios=RATIOS,
        resolutions=("720p",),
        max_reference_images=2,
        by_image_count=("jimeng_t2v_v30", "jimeng_i2v_first_v30", "jimeng_i2v_first_tail_v30"),
    ),
    _video("jimeng_t2v_v30", "Jimeng 3.0 text-to-video, 720p", "720p", (0, 0)),
    _video("jimeng_t2v_v30_1080p", "Jimeng 3.0 text-to-video, 1080p", "1080p", (0, 0)),
    _video("jimeng_i2v_first_v30", "Jimeng 3.0 image-to-video from a first frame, 720p", "720p", (1, 1), ()),
    _video("jimeng_i2v_first_v30_1080", "Jimeng 3.0 image-to-video from a first frame, 1080p", "1080p", (1, 1), ()),
    _video("jimeng_i2v_first_tail_v30", "Jimeng 3.0 video between a first and a last frame, 720p", "720p", (2, 2), ()),
    _video(
        "jimeng_i2v_first_tail_v30_1080",
        "Jimeng 3.0 video between a first and a last frame, 1080p",
        "1080p",
        (2, 2),
        (),
    ),
    _video("jimeng_ti2v_v30_pro", "Jimeng 3.0 Pro video, from text or one image, 1080p", "1080p", (0, 1)),
)
VIDEO_KEYS = {spec.id for spec in VIDEO_MODELS if not spec.by_image_count}

# Recommended sizes, from the Jimeng 3.x documentation.
SIZES_1K = ("1328x1328", "1472x1104", "1584x1056", "1664x936", "2016x864")
SIZES_2K = ("2048x2048", "2304x1728", "2496x1664", "2560x1440", "3024x1296")


class JimengProvider(Provider):
    name = "jimeng"
    style = "async"
    supports_cancel = True
    models = (
        ModelSpec(
            id="jimeng_t2i_v30",
            provider="jimeng",
            label="Jimeng 3.0 text-to-image",
            aliases=("jimeng-3.0",),
            options=("use_pre_llm",),
            default_size=(1328, 1328),
            recommended_sizes=SIZES_1K + SIZES_2K,
        ),
        ModelSpec(
            id="jimeng_t2i_v31",
            provider="jimeng",
            label="Jimeng 3.1 text-to-image",
            aliases=("jimeng-3.1",),
            options=("use_pre_llm",),
            default_size=(1328, 1328),
            recommended_sizes=SIZES_1K + SIZES_2K,
        ),
        ModelSpec(
            id="jimeng_t2i_v40",
            provider="jimeng",
            label="Jimeng 4.0, text and up to 10 reference images",
            aliases=("jimeng-4.0",),
            default_size=(2048, 2048),
            min_side=1024 // 3,
            max_side=4096,
            min_area=1024 * 1024,
            max_area=4096 * 4096,
            max_reference_images=10,
            recommended_sizes=SIZES_2K,
            scale_range=(0.0, 1.0),
            options=("force_single",),
            max_images=4,
        ),
        ModelSpec(
            id="jimeng_seedream46_cvtob",
            provider="jimeng",
            label="Jimeng Seedream 4.6, text and up to 14 reference images",
            aliases=("jimeng-4.6", "seedream-4.6"),
            default_size=(2048, 2048),
            min_side=1024 // 3,
            max_side=4096,
            min_area=1024 * 1024,
            max_area=4096 * 4096,
            max_reference_images=14,
            recommended_sizes=SIZES_2K,
            scale_range=(1, 100),
            options=("force_single",),
            max_images=4,
        ),
        *VIDEO_MODELS,
    )

    def configuration_problems(self) -> list[tuple[str, str]]:
        problems = []
        if settings.VOLCENGINE_ACCOUNTS:
            problems += accounts_problems("VOLCENGINE_ACCOUNTS", settings.VOLCENGINE_ACCOUNTS, _CREDENTIALS)
            if settings.VOLCENGINE_ACCESS_KEY:
                problems.append(
                    ("warning", "VOLCENGINE_ACCOUNTS is set: VOLCENGINE_ACCESS_KEY/SECRET_KEY are not used")
                )
        elif bool(settings.VOLCENGINE_ACCESS_KEY) != bool(settings.VOLCENGINE_SECRET_KEY):
            problems.append(("error", "set both VOLCENGINE_ACCESS_KEY and VOLCENGINE_SECRET_KEY, or neither"))
        if self.is_configured() and settings.VOLCENGINE_SCHEME != "https" and settings.PRODUCTION:
            problems.append(("warning", "VOLCENGINE_SCHEME is not https: keys and prompts travel in clear"))
        return problems

    def accounts(self) -> tuple[Account, ...]:
        """VOLCENGINE_ACCOUNTS, or the single VOLCENGINE_ACCESS_KEY/SECRET_KEY pair as a pool of one."""
        if settings.VOLCENGINE_ACCOUNTS:
            return accounts_parse(settings.VOLCENGINE_ACCOUNTS, _CREDENTIALS)
        return (Account("default", credentials=(settings.VOLCENGINE_ACCESS_KEY, settings.VOLCENGINE_SECRET_KEY)),)

    def is_configured(self) -> bool:
        return any(all(account.credentials) for account in self.accounts())

    def _call(self, method: str, form: dict, account: str = "") -> dict:
        client = visual_service(self.account(account))
        try:
            response = getattr(client, method)(form)
        except Exception as exc:  # noqa: BLE001 - the SDK raises nothing more specific
            raise error_from_exception(exc) from None
        if not isinstance(response, dict):
            raise UpstreamError(
                "unexpected answer from Jimeng (not a JSON object)", code="bad_response", retryable=True
            )
        if response.get("code") != SUCCESS:
            raise error_from_body(response) or UpstreamError(
                "unexpected answer from Jimeng (no code)", code="bad_response", retryable=True
            )
        return response.get("data") or {}

    def submit_form(self, request: GenerationRequest) -> dict:
        if request.model in VIDEO_KEYS:
            return self.video_form(request)
        form: dict = {
            "req_key": request.model,
            "prompt": request.prompt,
            "width": request.width,
            "height": request.height,
        }
        options = request.options
        if request.model in {"jimeng_t2i_v40", "jimeng_seedream46_cvtob"}:
            if request.reference_images:
                form["image_urls"] = list(request.reference_images)
            for key in ("scale", "force_single"):
                if options.get(key) is not None:
                    form[key] = options[key]
        else:
            form["seed"] = request.seed if request.seed is not None else -1
            if options.get("use_pre_llm") is not None:
                form["use_pre_llm"] = options["use_pre_llm"]
        return form

    def video_form(self, request: GenerationRequest) -> dict:
        options = request.options
        form: dict = {
            "req_key": request.model,
            "prompt": request.prompt,
            "seed": request.seed if request.seed is not None else -1,
            "frames": FRAMES[options.get("duration", 5)],
        }
        if request.reference_images:
            form["image_urls"] = list(request.reference_images)
        elif options.get("aspect_ratio"):  # text-to-video only: from an image, the image decides
            form["aspect_ratio"] = options["aspect_ratio"]
        return form

    def submit(self, request: GenerationRequest) -> str:
        data = self._call("cv_sync2async_submit_task", self.submit_form(request), request.account)
        task_id = data.get("task_id")
        if not task_id:
            raise UpstreamError("Jimeng accepted the task but returned no task id", code="bad_response", retryable=True)
        return str(task_id)

    def poll(self, request: GenerationRequest, upstream_task_id: str) -> PollResult:
        req_json = {
            "return_url": True,
            "logo_info": {"add_logo": False, "position": 0, "language": 0, "opacity": 1, "logo_text_content": ""},
        }
        form = {"req_key": request.model, "task_id": upstream_task_id, "req_json": json.dumps(req_json)}
        data = self._call("cv_sync2async_get_result", form, request.account)
        status = data.get("status")
        if status in {"in_queue", "generating"}:
            return PollResult(done=False)
        if status == "done" and request.model in VIDEO_KEYS:
            if not data.get("video_url"):
                raise UpstreamError(
                    "Jimeng finished the task but returned no video", code="no_video", retryable=True, resubmit=True
                )
            return PollResult(done=True, videos=(Video(url=data["video_url"]),))
        if status == "done":
            urls = data.get("image_urls") or []
            encoded = data.get("binary_data_base64") or []
            images = [Image(url=url) for url in urls] or [Image(data=base64.b64decode(item)) for item in encoded]
            if not images:
                raise UpstreamError(
                    "Jimeng finished the task but returned no image", code="no_image", retryable=True, resubmit=True
                )
            return PollResult(done=True, images=tuple(images))
        if status == "not_found":
            raise UpstreamError(
                "Jimeng no longer knows this task (not_found)", code="not_found", retryable=True, resubmit=True
            )
        if status == "expired":
            raise UpstreamError(
                "the Jimeng task expired before its result was fetched", code="expired", retryable=True, resubmit=True
            )
        raise UpstreamError(f"unexpected Jimeng task status {status!r}", code="bad_response", retryable=True)

    def cancel(self, request: GenerationRequest, upstream_task_id: str) -> None:
        """CVCancelTask (Version 2024-06-06): stop a queued or running generation."""
        self._call("cv_cancel_task", {"req_key": request.model, "task_id": upstream_task_id}, request.account)


PROVIDER = JimengProvider
