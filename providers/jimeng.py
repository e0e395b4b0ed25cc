"""Jimeng (即梦) through Volcengine's official SDK: submit a generation, then poll for it; the models it
runs, images and video. (The SDK client and the classification of its answers: providers/volcengine.py.)"""

from __future__ import annotations

import base64
import json
import logging

from django.conf import settings

from .base import (
    Account,
    GenerationRequest,
    Image,
    PollResult,
    Provider,
    UpstreamError,
    Video,
    accounts_parse,
    accounts_problems,
)
from .specs import ImageSpec, VideoSpec
from .volcengine import CREDENTIALS, SUCCESS, error_from_body, error_from_exception, visual_service

log = logging.getLogger(__name__)

RATIOS = ("16:9", "4:3", "1:1", "3:4", "9:16", "21:9")
FRAMES = {5: 121, 10: 241}  # seconds -> `frames`, the only two values the video req_keys take


def _video(id: str, label: str, resolution: str, images: tuple[int, int], ratios=RATIOS, aliases=()) -> VideoSpec:
    return VideoSpec(
        id=id,
        provider="jimeng",
        label=label,
        aliases=aliases,
        durations=(5, 10),
        ratios=ratios,
        resolutions=(resolution,),
        min_reference_images=images[0],
        max_reference_images=images[1],
    )


VIDEO_MODELS = (
    VideoSpec(
        id="jimeng_v30",
        provider="jimeng",
        label="Jimeng 3.0 video, 720p: text-to-video, or first frame (1 image), or first and last frame (2)",
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
    default_concurrency = 8  # images at once per key (accounts start small; an operator raises it)
    models = (
        ImageSpec(
            id="jimeng_t2i_v30",
            provider="jimeng",
            label="Jimeng 3.0 text-to-image",
            aliases=("jimeng-3.0",),
            options=("use_pre_llm",),
            default_size=(1328, 1328),
            recommended_sizes=SIZES_1K + SIZES_2K,
        ),
        ImageSpec(
            id="jimeng_t2i_v31",
            provider="jimeng",
            label="Jimeng 3.1 text-to-image",
            aliases=("jimeng-3.1",),
            options=("use_pre_llm",),
            default_size=(1328, 1328),
            recommended_sizes=SIZES_1K + SIZES_2K,
        ),
        ImageSpec(
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
        ImageSpec(
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
            problems += accounts_problems("VOLCENGINE_ACCOUNTS", settings.VOLCENGINE_ACCOUNTS, CREDENTIALS)
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
            return accounts_parse(settings.VOLCENGINE_ACCOUNTS, CREDENTIALS)
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
