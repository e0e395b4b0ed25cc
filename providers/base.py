"""The provider interface: what an upstream must do, and the result and error types it speaks.

A provider is either synchronous (`generate` returns the images) or asynchronous (`submit` returns an
upstream task id, `poll` reports on it). Providers never touch models or storage."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal


@dataclass(frozen=True)
class GenerationRequest:
    task_id: str
    model: str  # the catalog id, e.g. "jimeng_t2i_v30"
    prompt: str
    width: int
    height: int
    seed: int | None = None
    reference_images: tuple[str, ...] = ()
    options: dict = field(default_factory=dict)  # model-specific extras (scale, quality, ...)


@dataclass(frozen=True)
class Image:
    """One generated image: its bytes, or a URL to download them from."""

    data: bytes | None = None
    url: str | None = None
    content_type: str = "image/png"


@dataclass(frozen=True)
class PollResult:
    done: bool
    images: tuple[Image, ...] = ()


class UpstreamError(Exception):
    """An upstream said no. `retryable` decides between trying again later and failing the task;
    `resubmit` says the upstream task is gone, so trying again means a new generation; `in_flight`
    says the upstream may have accepted the work anyway (a request that timed out after it was sent),
    so it may still be generating."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        retryable: bool = False,
        resubmit: bool = False,
        in_flight: bool = False,
    ):
        super().__init__(message)
        self.message = message
        self.code = code
        self.retryable = retryable
        self.resubmit = resubmit
        self.in_flight = in_flight


class Provider:
    name: ClassVar[str]
    style: ClassVar[Literal["sync", "async"]]
    supports_cancel: ClassVar[bool] = False  # whether `cancel` tells the upstream to stop

    def is_configured(self) -> bool:
        """True when credentials are present, so that real tasks can run."""
        raise NotImplementedError

    def generate(self, request: GenerationRequest) -> list[Image]:
        raise NotImplementedError

    def submit(self, request: GenerationRequest) -> str:
        raise NotImplementedError

    def poll(self, request: GenerationRequest, upstream_task_id: str) -> PollResult:
        raise NotImplementedError

    def cancel(self, request: GenerationRequest, upstream_task_id: str) -> None:
        raise NotImplementedError
