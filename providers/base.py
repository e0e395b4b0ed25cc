"""The provider interface: what an upstream must do, the models it declares, and the result and error
types it speaks.

A provider is either synchronous (`generate` returns the images) or asynchronous (`submit` returns an
upstream task id, `poll` reports on it). Providers never touch models or storage."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

import requests


@dataclass(frozen=True)
class ModelSpec:
    id: str
    provider: str  # the provider that runs it for real (local mode draws every model locally)
    label: str
    aliases: tuple[str, ...] = ()
    default_size: tuple[int, int] = (1024, 1024)
    min_side: int = 512
    max_side: int = 2048
    min_area: int = 512 * 512
    max_area: int = 2048 * 2048
    max_aspect: float = 3.0
    max_reference_images: int = 0
    min_reference_images: int = 0
    max_prompt_chars: int = 800
    recommended_sizes: tuple[str, ...] = field(default=())
    # Optional knobs: the range of `scale` (None: not accepted), and which flags the model takes.
    scale_range: tuple[float, float] | None = None
    options: tuple[str, ...] = ()  # of "force_single", "use_pre_llm"


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
    """One upstream, in one module: the module names its subclass `PROVIDER`, and the module is listed
    in the PROVIDER_MODULES setting. The class declares the models it runs; the registry builds the
    catalog from every listed provider's `models`."""

    name: ClassVar[str]
    style: ClassVar[Literal["sync", "async"]]
    supports_cancel: ClassVar[bool] = False  # whether `cancel` tells the upstream to stop
    models: ClassVar[tuple[ModelSpec, ...]] = ()

    def is_configured(self) -> bool:
        """True when credentials are present, so that real tasks can run."""
        raise NotImplementedError

    def configuration_problems(self) -> list[tuple[str, str]]:
        """What is wrong with this provider's settings, as (level, text) with level "error" or
        "warning": shown by Django's system checks (`manage.py check`, every start)."""
        return []

    def generate(self, request: GenerationRequest) -> list[Image]:
        raise NotImplementedError

    def submit(self, request: GenerationRequest) -> str:
        raise NotImplementedError

    def poll(self, request: GenerationRequest, upstream_task_id: str) -> PollResult:
        raise NotImplementedError

    def cancel(self, request: GenerationRequest, upstream_task_id: str) -> None:
        raise NotImplementedError


def session_settle(session: requests.Session, url: str) -> requests.Session:
    """Read the environment's proxy settings for the upstream at `url` once, instead of on every call.

    A `requests` session that trusts the environment reads the proxy variables and ~/.netrc again per
    request (about 5% of a worker's poll), and a ~/.netrc entry for the upstream's host would replace
    a signed Authorization header with Basic credentials. HTTPS_PROXY / NO_PROXY still apply."""
    session.trust_env = False
    session.proxies = requests.utils.get_environ_proxies(url)
    return session
