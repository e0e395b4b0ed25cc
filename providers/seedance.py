"""Seedance video through Ark's content-generation tasks (Bearer key, the Ark accounts): create a task,
poll it, delete it to cancel one still queued. Asynchronous like Jimeng: no worker waits for a video."""

from __future__ import annotations

from django.conf import settings

from .ark import ArkProvider, error_from_response
from .base import GenerationRequest, PollResult, UpstreamError, Video
from .specs import VideoSpec

TASKS = "/contents/generations/tasks"
RATIOS = ("16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "adaptive")
ROLES = {1: ("first_frame",), 2: ("first_frame", "last_frame")}  # by the number of images given


def _model(id: str, label: str, *, durations, images=(0, 2), resolutions=("720p", "480p", "1080p"), aliases=()):
    return VideoSpec(
        id=id,
        provider="seedance",
        label=label,
        aliases=aliases,
        durations=tuple(durations),
        ratios=RATIOS,
        resolutions=resolutions,
        min_reference_images=images[0],
        max_reference_images=images[1],
        last_frame=True,
    )


class SeedanceProvider(ArkProvider):
    name = "seedance"
    style = "async"
    supports_cancel = True  # a queued task only: Ark cannot stop one that runs
    default_concurrency = 2  # a video account starts at one or two at once
    most_per_account = 2
    models = (
        _model(
            "doubao-seedance-1-0-pro-250528",
            "Seedance 1.0 Pro: text, first frame, or first and last frame",
            durations=(5, *range(2, 5), *range(6, 13)),
            resolutions=("1080p", "720p", "480p"),
            aliases=("seedance-1.0-pro",),
        ),
        _model(
            "doubao-seedance-1-0-pro-fast-251015",
            "Seedance 1.0 Pro Fast: text or first frame",
            durations=(5, *range(2, 5), *range(6, 13)),
            images=(0, 1),
            resolutions=("1080p", "720p", "480p"),
            aliases=("doubao-seedance-1-0-pro-fast", "seedance-1.0-pro-fast"),
        ),
        _model(
            "doubao-seedance-1-0-lite-t2v-250428",
            "Seedance 1.0 Lite text-to-video",
            durations=(5, *range(2, 5), *range(6, 13)),
            images=(0, 0),
            aliases=("doubao-seedance-1-0-lite-t2v", "seedance-1.0-lite-t2v"),
        ),
        _model(
            "doubao-seedance-1-0-lite-i2v-250428",
            "Seedance 1.0 Lite image-to-video: first frame, or first and last frame",
            durations=(5, *range(2, 5), *range(6, 13)),
            images=(1, 2),
            aliases=("doubao-seedance-1-0-lite-i2v", "seedance-1.0-lite-i2v"),
        ),
        _model(
            "doubao-seedance-1-5-pro-251215",
            "Seedance 1.5 Pro: text, first frame, or first and last frame",
            durations=(5, *range(4, 5), *range(6, 13)),
            resolutions=("1080p", "720p", "480p"),
            aliases=("seedance-1.5-pro",),
        ),
        _model(
            "doubao-seedance-2-0-260128",
            "Seedance 2.0: text, first frame, or first and last frame",
            durations=(5, 4, *range(6, 16)),
            resolutions=("1080p", "720p", "480p"),
            aliases=("seedance-2.0",),
        ),
    )

    def configuration_problems(self) -> list[tuple[str, str]]:
        return []  # the Ark accounts are the ark provider's to check

    def request_body(self, request: GenerationRequest) -> dict:
        options = request.options
        content: list[dict] = [{"type": "text", "text": request.prompt}]
        images = list(request.reference_images)
        for url, role in zip(images, ROLES.get(len(images), ()), strict=False):
            content.append({"type": "image_url", "image_url": {"url": url}, "role": role})
        body: dict = {
            "model": request.model,
            "content": content,
            "resolution": options.get("resolution", "720p"),
            "duration": options.get("duration", 5),
            "watermark": settings.ARK_WATERMARK,
        }
        if options.get("aspect_ratio"):
            body["ratio"] = options["aspect_ratio"]
        if request.seed is not None:
            body["seed"] = request.seed
        if options.get("return_last_frame"):
            body["return_last_frame"] = True
        return body

    def submit(self, request: GenerationRequest) -> str:
        answer = self.call("POST", TASKS, request.account, self.request_body(request))
        if not answer.get("id"):
            raise UpstreamError("Ark accepted the video task but returned no id", code="bad_response", retryable=True)
        return str(answer["id"])

    def poll(self, request: GenerationRequest, upstream_task_id: str) -> PollResult:
        try:
            answer = self.call("GET", f"{TASKS}/{upstream_task_id}", request.account)
        except UpstreamError as error:
            if error.code in {"ResourceNotFound", "http_404"}:  # records are kept 7 days
                raise UpstreamError(
                    "Ark no longer knows this video task", code="not_found", retryable=True, resubmit=True
                ) from None
            raise
        status = answer.get("status")
        if status in {"queued", "running"}:
            return PollResult(done=False)
        if status == "succeeded":
            content = answer.get("content") or {}
            if not content.get("video_url"):
                raise UpstreamError(
                    "Ark finished the video task but returned no video", code="no_video", retryable=True, resubmit=True
                )
            return PollResult(
                done=True, videos=(Video(url=content["video_url"], last_frame_url=content.get("last_frame_url")),)
            )
        if status == "failed":
            error = error_from_response(400, {"error": answer.get("error") or {"code": "generation_failed"}})
            error.resubmit = error.retryable  # a failed generation is over: trying again is a new one
            raise error
        if status == "cancelled":
            raise UpstreamError("the video task was cancelled at Ark", code="canceled_upstream")
        raise UpstreamError(f"unexpected Ark task status {status!r}", code="bad_response", retryable=True)

    def cancel(self, request: GenerationRequest, upstream_task_id: str) -> None:
        """DELETE: Ark cancels a task still queued (one already running goes on and is discarded)."""
        self.call("DELETE", f"{TASKS}/{upstream_task_id}", request.account)


PROVIDER = SeedanceProvider
