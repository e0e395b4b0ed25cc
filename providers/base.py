"""The provider interface: what an upstream must do, the models it declares, and the result and error
types it speaks.

A provider is either synchronous (`generate` returns the images) or asynchronous (`submit` returns an
upstream task id, `poll` reports on it: images, or a video). Providers never touch models or storage."""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import requests

from jimeng_server.text import text_clean

from .specs import ModelSpec


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
    account: str = ""  # the upstream account to use (the one that submitted it, for a poll); "": the first
    output: Literal["images", "videos"] = "images"  # what to make (videos: options hold duration, ratio...)


@dataclass(frozen=True)
class Image:
    """One generated image: its bytes, or a URL to download them from; `index`: its place in a set."""

    data: bytes | None = None
    url: str | None = None
    content_type: str = "image/png"
    index: int | None = None


@dataclass(frozen=True)
class ItemError:
    """An image of a set that was not made (the others were): its place and the upstream's reason."""

    index: int
    code: str
    message: str


@dataclass(frozen=True)
class Video:
    """One generated video (MP4): its bytes or a URL, and the URL of its last frame when asked for."""

    data: bytes | None = None
    url: str | None = None
    content_type: str = "video/mp4"
    last_frame_url: str | None = None
    last_frame_data: bytes | None = None


@dataclass(frozen=True)
class PollResult:
    """A look at an asynchronous generation. Not done, it may still carry the images of a set made so
    far (kept at once)."""

    done: bool
    images: tuple[Image | ItemError, ...] = ()
    videos: tuple[Video, ...] = ()


@dataclass(frozen=True)
class Account:
    """One set of upstream credentials. `concurrency`: generations it may run at once (0: no cap of
    its own); `weight`: its share when choosing the least-loaded account. The credentials never show
    in a repr, a log or an answer."""

    name: str
    concurrency: int = 0
    weight: float = 1.0
    credentials: tuple[str, ...] = field(default=(), repr=False, compare=False)

    @property
    def fingerprint(self) -> str:
        """Which keys these are, without them: an account taken out for refused keys comes back by
        itself once it is configured with other ones."""
        return hashlib.sha256("\0".join(self.credentials).encode()).hexdigest()[:16]


class UpstreamError(Exception):
    """An upstream said no. `retryable` decides between trying again later and failing the task;
    `resubmit` says the upstream task is gone, so trying again means a new generation; `in_flight`
    says the upstream may have accepted the work anyway (a request that timed out after it was sent),
    so it may still be generating. `account_down`: the account itself is refused (keys revoked,
    overdue, access denied) — it leaves rotation; `throttled`: the account is over its rate or
    concurrency limit for now — it rests."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        retryable: bool = False,
        resubmit: bool = False,
        in_flight: bool = False,
        account_down: bool = False,
        throttled: bool = False,
    ):
        message, code = _printable(message, 2000), _printable(code, 64)  # an upstream's words, stored as they come
        super().__init__(message)
        self.message = message
        self.code = code
        self.retryable = retryable
        self.resubmit = resubmit
        self.in_flight = in_flight
        self.account_down = account_down
        self.throttled = throttled


def _printable(text: str, most: int) -> str:
    """Text an upstream sent, safe to store and show: bounded, no NUL or lone surrogate."""
    return text_clean(str(text)[:most])


class Provider:
    """One upstream, in one module: the module names its subclass `PROVIDER`, and the module is listed
    in the PROVIDER_MODULES setting. The class declares the models it runs; the registry builds the
    catalog from every listed provider's `models`."""

    name: ClassVar[str]
    style: ClassVar[Literal["sync", "async"]]
    supports_cancel: ClassVar[bool] = False  # whether `cancel` tells the upstream to stop
    models: ClassVar[tuple[ModelSpec, ...]] = ()
    # Generations at once across every worker when UPSTREAM_CONCURRENCY names no cap for it (0: none),
    # per account of a pool that names none of its own; and the most one account may run, whatever it says.
    default_concurrency: ClassVar[int] = 0
    most_per_account: ClassVar[int] = 0

    def expected_seconds(self, spec: ModelSpec) -> float:
        """How long a generation of this model usually takes here, before any was measured."""
        return spec.typical_seconds

    def default_cap(self) -> int:
        """Its cap when UPSTREAM_CONCURRENCY names none: one key's default, or what a pool's accounts
        allow together."""
        accounts = self.accounts()
        if len(accounts) == 1 and not accounts[0].concurrency:
            return self.default_concurrency
        caps = [account.concurrency or self.default_concurrency for account in accounts]
        if not all(caps):
            return 0  # an account without a cap and no default: no cap at all
        return sum(min(cap, self.most_per_account or cap) for cap in caps)

    def is_configured(self) -> bool:
        """True when credentials are present, so that real tasks can run."""
        raise NotImplementedError

    def accounts(self) -> tuple[Account, ...]:
        """The upstream accounts it can use, in configuration order (a provider without credentials
        has one, nameless in effect)."""
        return (Account("default"),)

    def account(self, name: str) -> Account:
        """The account called `name` ("" or None: the first). One that is no longer configured is an
        error a new submit gets past (its tasks were bound to it)."""
        accounts = self.accounts()
        if not name:
            return accounts[0]
        for account in accounts:
            if account.name == name:
                return account
        raise UpstreamError(
            f"the {self.name} account '{name}' that ran this task is no longer configured",
            code="account_gone",
            retryable=True,
            resubmit=True,
        )

    def configuration_problems(self) -> list[tuple[str, str]]:
        """What is wrong with this provider's settings, as (level, text) with level "error" or
        "warning": shown by Django's system checks (`manage.py check`, every start)."""
        return []

    def generate(self, request: GenerationRequest, on_item=None) -> list[Image | ItemError]:
        """The images (and a set's failed items). A provider that receives them one by one calls
        `on_item(item)` for each as it arrives (when given), so it is kept before the next one comes."""
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


def accounts_parse(raw: list, fields: tuple[str, ...]) -> tuple[Account, ...]:
    """Accounts from a JSON list of objects with `name`, the credential `fields`, and optional
    `concurrency` and `weight` (configuration_problems says what is wrong with a list). Parsed once
    per distinct list."""
    return _accounts_parsed(json.dumps(raw, sort_keys=True, default=str), fields)


@functools.lru_cache(maxsize=16)
def _accounts_parsed(text: str, fields: tuple[str, ...]) -> tuple[Account, ...]:
    raw = json.loads(text)
    return tuple(
        Account(
            name=str(item.get("name") or f"account-{index + 1}"),
            concurrency=int(item.get("concurrency") or 0),
            weight=float(item.get("weight") or 1.0),
            credentials=tuple(str(item.get(name) or "") for name in fields),
        )
        for index, item in enumerate(raw if isinstance(raw, list) else [])
        if isinstance(item, dict)
    ) or (Account("default"),)


def accounts_problems(setting: str, raw, fields: tuple[str, ...]) -> list[tuple[str, str]]:
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        return [("error", f"{setting} must be a JSON list of objects")]
    problems, names = [], set()
    for index, item in enumerate(raw):
        name = item.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name):
            problems.append(("error", f"{setting}[{index}]: 'name' must be 1-64 letters, digits, '_', '.' or '-'"))
        elif name in names:
            problems.append(("error", f"{setting}: the name '{name}' is used twice"))
        names.add(name)
        missing = [field_ for field_ in fields if not item.get(field_)]
        if missing:
            problems.append(("error", f"{setting}[{index}]: missing {', '.join(missing)}"))
        for key, kind in (("concurrency", int), ("weight", (int, float))):
            value = item.get(key)
            if value is not None and (not isinstance(value, kind) or isinstance(value, bool) or value < 0):
                problems.append(("error", f"{setting}[{index}]: '{key}' must be a number >= 0"))
        if item.get("weight") == 0:
            problems.append(("error", f"{setting}[{index}]: 'weight' must be above 0"))
    return problems
