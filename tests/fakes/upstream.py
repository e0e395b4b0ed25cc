"""A fake Volcengine for tests and local experiments: Jimeng's async visual API (V4-signed: images and
video), Ark's images API and Seedance video tasks (Bearer), spoken exactly as Volcengine documents
them, with fault injection and counters.

Run by hand: `python -m tests.fakes.upstream --port 9900 --latency 5` (or `make fake-upstream`).
Tests start it in-process (`FakeUpstream(...).start()`) and read its counters directly; other
processes can read them at GET /_fake/state and change settings with POST /_fake/config."""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import hmac
import io
import itertools
import json
import random
import re
import socket
import threading
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, urlsplit

from PIL import Image

REGION, SERVICE = "cn-north-1", "cv"
JIMENG_VERSION = "2022-08-31"
JIMENG_IMAGE_KEYS = {"jimeng_t2i_v30", "jimeng_t2i_v31", "jimeng_t2i_v40", "jimeng_seedream46_cvtob"}
# video req_key -> (fewest, most reference images); text-to-video alone takes aspect_ratio
JIMENG_VIDEO_KEYS = {
    "jimeng_t2v_v30": (0, 0),
    "jimeng_t2v_v30_1080p": (0, 0),
    "jimeng_i2v_first_v30": (1, 1),
    "jimeng_i2v_first_v30_1080": (1, 1),
    "jimeng_i2v_first_tail_v30": (2, 2),
    "jimeng_i2v_first_tail_v30_1080": (2, 2),
    "jimeng_ti2v_v30_pro": (0, 1),
}
JIMENG_KEYS = JIMENG_IMAGE_KEYS | set(JIMENG_VIDEO_KEYS)
VIDEO_RATIOS = ("16:9", "4:3", "1:1", "3:4", "9:16", "21:9")
# Seedance model -> (shortest, longest duration in seconds)
SEEDANCE_MODELS = {
    "doubao-seedance-1-0-pro-250528": (2, 12),
    "doubao-seedance-1-0-pro-fast-251015": (2, 12),
    "doubao-seedance-1-0-lite-t2v-250428": (2, 12),
    "doubao-seedance-1-0-lite-i2v-250428": (2, 12),
    "doubao-seedance-1-5-pro-251215": (4, 12),
    "doubao-seedance-2-0-260128": (4, 15),
}
VIDEO_SIDES = {"480p": 480, "720p": 720, "1080p": 1080}
ARK_MODELS = {
    "doubao-seedream-3-0-t2i-250415",
    "doubao-seedream-4-0-250828",
    "doubao-seededit-3-0-i2i-250628",
}
# HTTP status the real API answers with for each business code.
CODE_STATUS = {50400: 401, 50429: 429, 50430: 429, 50500: 500, 50501: 500}
CODE_MESSAGES = {
    50411: "Pre Img Risk Not Pass",
    50412: "Pre Text Risk Not Pass",
    50413: "Post Text Risk Not Pass",
    50511: "Post Img Risk Not Pass",
    50512: "Post Text Risk Not Pass",
    50518: "Pre Img Copyright Not Pass",
    50519: "Post Img Copyright Not Pass",
    50520: "Risk Internal Error",
    50521: "Antidirt Internal Error",
    50522: "Image Copyright Internal Error",
    50200: "Request Invalid Args",
    50201: "Request Missing Args",
    50204: "Image Size Exceeds Limit",
    50205: "Image Empty",
    50206: "Image Decode Error",
    50207: "Image Size Invalid",
    50213: "Request Body Too Large",
    50215: "Input Not Acceptable",
    50400: "Access Denied: Service Not Enabled",
    50429: "Request Has Reached API Limit, Please Try Later",
    50430: "Request Has Reached API Concurrent Limit, Please Try Later",
    50500: "Internal Error",
    50501: "Internal RPC Error",
}
ARK_ERROR_STATUS = {
    "MissingParameter": 400,
    "InvalidParameter": 400,
    "InputTextSensitiveContentDetected": 400,
    "InputImageSensitiveContentDetected": 400,
    "OutputImageSensitiveContentDetected": 400,
    "OutputVideoSensitiveContentDetected": 400,
    "AuthenticationError": 401,
    "AccountOverdueError": 403,
    "AccessDenied": 403,
    "InvalidEndpointOrModel.NotFound": 404,
    "ResourceNotFound": 404,
    "RateLimitExceeded.EndpointRPMExceeded": 429,
    "RateLimitExceeded.EndpointTPMExceeded": 429,
    "InternalServiceError": 500,
    "ServerOverloaded": 503,
}


# --- Volcengine V4 signature -------------------------------------------------------------------


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def canonical_query(query: str) -> str:
    pairs = sorted(parse_qsl(query, keep_blank_values=True))
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in pairs).replace("+", "%20")


def signature(
    *, secret_key: str, method: str, query: str, headers: dict[str, str], signed: list[str], body: bytes
) -> str:
    x_date = headers["x-date"]
    short_date = x_date[:8]
    body_hash = hashlib.sha256(body).hexdigest()
    lines = []
    for name in signed:
        value = headers.get(name, "").strip()
        if name == "host" and (value.endswith(":80") or value.endswith(":443")):
            value = value.rsplit(":", 1)[0]
        lines.append(f"{name}:{value}\n")
    canonical = f"{method}\n/\n{canonical_query(query)}\n" + "".join(lines) + "\n" + ";".join(signed) + "\n" + body_hash
    scope = f"{short_date}/{REGION}/{SERVICE}/request"
    string_to_sign = f"HMAC-SHA256\n{x_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = _hmac(_hmac(_hmac(_hmac(secret_key.encode(), short_date), REGION), SERVICE), "request")
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


# --- Settings and state ------------------------------------------------------------------------------


@dataclass
class Fault:
    """An injected failure. `api`: submit | result | ark | seedance (create) | seedance_result (the
    task fails with `code`) | download (of a generated image or video: `prompt_contains` matches the
    task that made it) | any. `kind`: code (answer with `code`), not_found, expired, slow (answer
    after `delay` seconds; a download trickles its body over `delay` seconds), drop (close the
    connection unanswered), html (a download answers 200 with an HTML page instead).
    Applies `times` times (None: always), to a `rate` share of requests, or to prompts containing
    `prompt_contains`."""

    api: str = "any"
    kind: str = "code"
    code: int | str = 0
    times: int | None = None
    rate: float | None = None
    prompt_contains: str | None = None
    delay: float = 0.0


@dataclass
class FakeConfig:
    access_key: str = "AKFAKEEXAMPLE"
    secret_key: str = "SKFAKEEXAMPLE"
    ark_api_key: str = "ark-fake-key"
    latency: float = 1.0  # seconds a generation takes (Jimeng: submit → done; Ark: the request)
    in_queue_share: float = 0.2  # the first part of the latency reports in_queue, the rest generating
    task_ttl: float = 12 * 3600  # after this, GetResult answers "expired"
    max_concurrency: int | None = None  # above this many generations at once, answer 50430 / 429
    images_multi: int = 2  # images a 4.x model returns unless force_single
    set_most: int = 15  # images a Seedream group generation makes at most (the model decides: fewer)
    faults: list[Fault] = field(default_factory=list)
    # More accounts (a pool): access key -> secret key (Jimeng), and more Ark API keys. Each account's
    # tasks are its own: another account's poll or cancel of them answers not_found (and is counted).
    accounts: dict[str, str] = field(default_factory=dict)
    ark_api_keys: list[str] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)  # access keys / Ark keys refused from now on
    account_max_concurrency: int | None = None  # per account: above it, 50430 / 429


@dataclass
class _Task:
    req_key: str
    prompt: str
    width: int
    height: int
    count: int
    submitted: float
    done_at: float
    account: str = ""
    seconds: int = 0  # a video's duration (0: images)
    status: str = ""  # a Seedance task's end: succeeded, failed, cancelled ("" until it ends)
    error: dict | None = None  # a failed Seedance task's error
    last_frame: bool = False
    body: dict = field(default_factory=dict)  # what a Seedance task was created with


class FakeState:
    def __init__(self, config: FakeConfig):
        self.config = config
        self.lock = threading.Lock()
        self.tasks: dict[str, _Task] = {}
        self.submissions: Counter[str] = Counter()  # prompt -> accepted submissions (Jimeng and Ark)
        self.requests: Counter[str] = Counter()  # action -> requests seen
        self.signature_failures = 0
        self.peak_concurrency = 0
        self.canceled: list[str] = []  # upstream ids canceled by CVCancelTask or DELETE (Seedance)
        self.peak_by_account: Counter[str] = Counter()  # access key / Ark key -> most generations at once
        self.submissions_by_account: Counter[str] = Counter()
        self.foreign_requests = 0  # polls or cancels of a task by an account that did not make it
        self.last_ark_body: dict = {}  # the last Ark images request, as sent
        self._ark_by_key: Counter[str] = Counter()
        self.generation = 0  # bumped by reset(): a request begun before a reset must not count after it
        self._ark_in_flight = 0
        self._ids = itertools.count(7392616336519610409)

    def reset(self, config: FakeConfig | None = None) -> None:
        with self.lock:
            self.generation += 1
            self._ark_in_flight = 0
            if config is not None:
                self.config = config
            self.tasks.clear()
            self.submissions.clear()
            self.requests.clear()
            self.signature_failures = 0
            self.peak_concurrency = 0
            self.canceled = []
            self.peak_by_account.clear()
            self.submissions_by_account.clear()
            self.foreign_requests = 0
            self._ark_by_key.clear()
            self.last_ark_body = {}

    def active(self, now: float) -> int:
        jimeng = sum(1 for task in self.tasks.values() if task.submitted <= now < task.done_at)
        return jimeng + self._ark_in_flight

    def active_for(self, account: str, now: float) -> int:
        jimeng = sum(1 for t in self.tasks.values() if t.account == account and t.submitted <= now < t.done_at)
        return jimeng + self._ark_by_key[account]

    def secret_for(self, access_key: str) -> str | None:
        if access_key == self.config.access_key:
            return self.config.secret_key
        return self.config.accounts.get(access_key)

    def pick_fault(self, api: str, prompt: str = "") -> Fault | None:
        with self.lock:
            for fault in self.config.faults:
                if fault.api not in (api, "any"):
                    continue
                if fault.prompt_contains is not None and fault.prompt_contains not in prompt:
                    continue
                if fault.times is not None and fault.times <= 0:
                    continue
                if fault.rate is not None and random.random() >= fault.rate:
                    continue
                if fault.times is not None:
                    fault.times -= 1
                return fault
        return None

    def snapshot(self) -> dict:
        with self.lock:
            return {
                "submissions": dict(self.submissions),
                "total_submissions": sum(self.submissions.values()),
                "requests": dict(self.requests),
                "signature_failures": self.signature_failures,
                "peak_concurrency": self.peak_concurrency,
                "canceled": list(self.canceled),
                "active": self.active(time.monotonic()),
                "peak_by_account": dict(self.peak_by_account),
                "submissions_by_account": dict(self.submissions_by_account),
                "foreign_requests": self.foreign_requests,
            }


class _Dropped(Exception):
    pass


ARK_GROUP_MODELS = {"doubao-seedream-4-0-250828"}


def _ark_set_problem(form: dict) -> tuple[str, str] | None:
    """Group mode, streaming and reference counts as Ark checks them: (param, message) when refused."""
    model, images = form["model"], form.get("image")
    images = images if isinstance(images, list) else [images] if images else []
    sequential = form.get("sequential_image_generation", "disabled")
    if model not in ARK_GROUP_MODELS:
        if sequential != "disabled" and "sequential_image_generation" in form:
            return "sequential_image_generation", f"the model {model} does not support sequential image generation"
        if form.get("stream"):
            return "stream", f"the model {model} does not support stream"
        return None
    if sequential not in ("auto", "disabled"):
        return "sequential_image_generation", f"the parameter `sequential_image_generation` is not valid: {sequential}"
    if len(images) > 14:
        return "image", "the number of reference images must not exceed 14"
    most = (form.get("sequential_image_generation_options") or {}).get("max_images", 15)
    if sequential == "auto":
        if not isinstance(most, int) or isinstance(most, bool) or not 1 <= most <= 15:
            return "sequential_image_generation_options.max_images", "max_images must be between 1 and 15"
        if len(images) + most > 15:
            return (
                "sequential_image_generation_options.max_images",
                "reference images + generated images must not exceed 15",
            )
    return None


def _png(width: int, height: int, seed: str) -> bytes:
    """A solid PNG whose colour follows the seed, one of 64 per size (rendering a 1328×1328 PNG
    takes ~0.2 s; cached, the fake keeps up with `make bench`)."""
    digest = hashlib.sha256(seed.encode()).digest()
    return _solid_png(width, height, digest[0] % 64)


@functools.lru_cache(maxsize=32)
def _mp4(width: int, height: int, seconds: int, shade: int) -> bytes:
    """A real MP4 (H.264) of `seconds` at 4 frames a second, one colour getting lighter."""
    import tempfile

    import av

    with tempfile.NamedTemporaryFile(suffix=".mp4") as file:
        with av.open(file.name, mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
            stream = container.add_stream("libx264", rate=4, options={"preset": "ultrafast"})
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            for index in range(max(1, seconds * 4)):
                colour = (40 + shade * 3, min(255, 60 + index * 4), 90 + (shade * 37) % 160)
                frame = av.VideoFrame.from_image(Image.new("RGB", (width, height), colour))
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        return file.read()


def _video_size(resolution: str, ratio: str) -> tuple[int, int]:
    short = VIDEO_SIDES.get(resolution, 720)
    across, down = (int(n) for n in (ratio if ratio in VIDEO_RATIOS else "16:9").split(":"))
    long_side = short * max(across, down) // min(across, down) // 16 * 16
    return (long_side, short) if across >= down else (short, long_side)


@functools.lru_cache(maxsize=256)
def _solid_png(width: int, height: int, shade: int) -> bytes:
    colour = (40 + shade * 3, 200 - shade * 2, 90 + (shade * 37) % 160)
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="PNG", compress_level=1)
    return out.getvalue()


# --- HTTP ------------------------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    server_version = "FakeVolcengine/1.0"
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle on, the body waits for the client's delayed
    # ACK (40 ms on Linux), a delay no real upstream adds.
    disable_nagle_algorithm = True
    state: FakeState  # set on the subclass made per server

    def log_message(self, format, *args):
        pass

    # --- plumbing
    def _send(self, status: int, payload: dict | bytes, content_type: str = "application/json") -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _download(self, seed: str, what: str, body, content_type: str) -> None:
        """A generated file, unless a `download` fault says otherwise (counted per kind of file)."""
        task = self.state.tasks.get(seed)
        with self.state.lock:
            self.state.requests[f"download_{what}"] += 1
        fault = self.state.pick_fault("download", task.prompt if task is not None else "")
        if fault is None:
            return self._send(200, body(), content_type)
        if fault.kind == "html":
            return self._send(200, b"<!doctype html><title>Gateway</title><p>Please log in.</p>", "text/html")
        if fault.kind == "slow":  # a trickle: the whole body promised, a few bytes at a time
            data = body()
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            deadline = time.monotonic() + fault.delay
            for offset in range(0, len(data), 16):
                if time.monotonic() > deadline:
                    return self._drop()
                try:
                    self.wfile.write(data[offset : offset + 16])
                    self.wfile.flush()
                except OSError:
                    return self._drop()
                time.sleep(0.05)
            return None
        if fault.kind == "drop":
            return self._drop()
        return self._send(int(fault.code) or 500, b"upstream storage error", "text/plain")

    def _drop(self) -> None:
        self.close_connection = True
        raise _Dropped

    def _apply(self, fault: Fault | None) -> Fault | None:
        """Slow and drop faults act here; others are returned for the caller to answer with."""
        if fault is None:
            return None
        if fault.kind == "slow":
            generation = self.state.generation
            time.sleep(fault.delay)
            if generation != self.state.generation:  # the test that asked for it is over
                self._drop()
            return None
        if fault.kind == "drop":
            self._drop()
        return fault

    def do_GET(self):
        try:
            path = urlsplit(self.path).path
            if path == "/_fake/state":
                return self._send(200, self.state.snapshot())
            match = re.fullmatch(r"/images/([\w-]+)/(\d+)x(\d+)/(\d+)\.png", path)
            if match:
                seed, width, height, index = match.groups()
                return self._download(
                    seed, "image", lambda: _png(int(width), int(height), f"{seed}/{index}"), "image/png"
                )
            match = re.fullmatch(r"/videos/([\w-]+)/(\d+)x(\d+)/(\d+)s\.mp4", path)
            if match:
                seed, width, height, seconds = match.groups()
                shade = hashlib.sha256(seed.encode()).digest()[0] % 64
                body = lambda: _mp4(int(width), int(height), int(seconds), shade)  # noqa: E731
                return self._download(seed, "video", body, "video/mp4")
            match = re.fullmatch(r"/api/v3/contents/generations/tasks/([\w-]+)", path)
            if match:
                return self._seedance_get(match.group(1))
            return self._send(404, {"error": "not found"})
        except _Dropped:
            return

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        parts = urlsplit(self.path)
        try:
            if parts.path == "/_fake/config":
                return self._configure(body)
            if parts.path == "/_fake/reset":
                self.state.reset()
                return self._send(200, {"ok": True})
            if parts.path == "/api/v3/images/generations":
                return self._ark(body)
            if parts.path == "/api/v3/contents/generations/tasks":
                return self._seedance_create(body)
            if parts.path == "/":
                return self._jimeng(parts.query, body)
            return self._send(404, {"error": "not found"})
        except _Dropped:
            return

    def do_DELETE(self):
        try:
            match = re.fullmatch(r"/api/v3/contents/generations/tasks/([\w-]+)", urlsplit(self.path).path)
            if match:
                return self._seedance_delete(match.group(1))
            return self._send(404, {"error": "not found"})
        except _Dropped:
            return

    def _configure(self, body: bytes) -> None:
        changes = json.loads(body or b"{}")
        faults = [Fault(**fault) for fault in changes.pop("faults", [])] if "faults" in changes else None
        with self.state.lock:
            for key, value in changes.items():
                setattr(self.state.config, key, value)
            if faults is not None:
                self.state.config.faults = faults
        self._send(200, asdict(self.state.config))

    # --- Jimeng
    def _gateway_error(self, status: int, code: str, message: str, action: str = "", version: str = "") -> None:
        self._send(
            status,
            {
                "ResponseMetadata": {
                    "RequestId": uuid.uuid4().hex,
                    "Action": action,
                    "Version": version,
                    "Service": SERVICE,
                    "Region": REGION,
                    "Error": {"Code": code, "Message": message},
                }
            },
        )

    def _business(self, code: int, data: dict | None = None, message: str | None = None) -> None:
        status = 200 if code == 10000 else CODE_STATUS.get(code, 400)
        self._send(
            status,
            {
                "code": code,
                "data": data,
                "message": message or ("Success" if code == 10000 else CODE_MESSAGES.get(code, "Error")),
                "request_id": uuid.uuid4().hex,
                "status": code,
                "time_elapsed": "12.3ms",
            },
        )

    def _verify(self, query: str, body: bytes) -> str | None:
        """The access key of a correctly signed request, else None."""
        headers = {name.lower(): value for name, value in self.headers.items()}
        auth = headers.get("authorization", "")
        match = re.fullmatch(
            r"HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/request, SignedHeaders=([^,]+), Signature=([0-9a-f]+)",
            auth,
        )
        if not match or "x-date" not in headers:
            return None
        access_key, short_date, region, service, signed, given = match.groups()
        secret_key = self.state.secret_for(access_key)
        if secret_key is None or (region, service) != (REGION, SERVICE):
            return None
        if headers.get("x-content-sha256") != hashlib.sha256(body).hexdigest() or not headers["x-date"].startswith(
            short_date
        ):
            return None
        expected = signature(
            secret_key=secret_key,
            method="POST",
            query=query,
            headers=headers,
            signed=signed.split(";"),
            body=body,
        )
        return access_key if hmac.compare_digest(expected, given) else None

    def _jimeng(self, query: str, body: bytes) -> None:
        params = dict(parse_qsl(query))
        action, version = params.get("Action", ""), params.get("Version", "")
        access_key = self._verify(query, body)
        if access_key is None:
            with self.state.lock:
                self.state.signature_failures += 1
            return self._gateway_error(
                401,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
                action,
                version,
            )
        if access_key in self.state.config.revoked:
            return self._gateway_error(
                401, "InvalidAccessKey", "The AccessKey is disabled or does not exist.", action, version
            )
        self.account = access_key
        if (action, version) == ("CVCancelTask", "2024-06-06"):
            form = json.loads(body or b"{}")
            with self.state.lock:
                self.state.requests[action] += 1
                task_id = str(form.get("task_id", ""))
                task = self.state.tasks.get(task_id)
                if task is not None and task.account != access_key:
                    self.state.foreign_requests += 1
                    task = None
                if task is not None:
                    del self.state.tasks[task_id]
                    self.state.canceled.append(task_id)
            return self._business(10000, {}) if task else self._business(10000, {"status": "not_found"})
        if version != JIMENG_VERSION or action not in {"CVSync2AsyncSubmitTask", "CVSync2AsyncGetResult"}:
            return self._gateway_error(
                404,
                "InvalidActionOrVersion",
                f"Could not find operation {action} for version {version}",
                action,
                version,
            )
        try:
            form = json.loads(body)
        except ValueError:
            return self._business(50200, message="Request Invalid Args: body is not JSON")
        with self.state.lock:
            self.state.requests[action] += 1
        if action == "CVSync2AsyncSubmitTask":
            return self._submit(form)
        return self._result(form)

    def _submit(self, form: dict) -> None:
        prompt = form.get("prompt") if isinstance(form.get("prompt"), str) else ""
        fault = self._apply(self.state.pick_fault("submit", prompt))
        if fault is not None:
            return self._business(int(fault.code) if fault.kind == "code" else 50500)
        problem = _validate_jimeng(form)
        if problem:
            code, message = problem
            return self._business(code, message=f"{CODE_MESSAGES[code]}: {message}")
        now = time.monotonic()
        with self.state.lock:
            config = self.state.config
            if config.max_concurrency is not None and self.state.active(now) >= config.max_concurrency:
                code = 50430
            elif (
                config.account_max_concurrency is not None
                and self.state.active_for(self.account, now) >= config.account_max_concurrency
            ):
                code = 50430
            else:
                code = 10000
                task_id = str(next(self.state._ids))
                width, height = _jimeng_size(form)
                multi = form["req_key"] in {"jimeng_t2i_v40", "jimeng_seedream46_cvtob"} and not form.get(
                    "force_single"
                )
                seconds = 0
                if form["req_key"] in JIMENG_VIDEO_KEYS:
                    seconds = 5 if form["frames"] == 121 else 10
                    width, height = _video_size(
                        "1080p" if "1080" in form["req_key"] or "pro" in form["req_key"] else "720p",
                        form.get("aspect_ratio", "16:9"),
                    )
                self.state.tasks[task_id] = _Task(
                    seconds=seconds,
                    body=dict(form),
                    req_key=form["req_key"],
                    prompt=prompt,
                    width=width,
                    height=height,
                    count=config.images_multi if multi else 1,
                    submitted=now,
                    done_at=now + config.latency,
                    account=self.account,
                )
                self.state.submissions[prompt] += 1
                self.state.submissions_by_account[self.account] += 1
                self.state.peak_concurrency = max(self.state.peak_concurrency, self.state.active(now))
                self.state.peak_by_account[self.account] = max(
                    self.state.peak_by_account[self.account], self.state.active_for(self.account, now)
                )
        if code != 10000:
            return self._business(code)
        return self._business(10000, {"task_id": task_id})

    def _result(self, form: dict) -> None:
        task = self.state.tasks.get(str(form.get("task_id", "")))
        if task is not None and task.account != self.account:  # another account's task: unknown here
            with self.state.lock:
                self.state.foreign_requests += 1
            task = None
        fault = self._apply(self.state.pick_fault("result", task.prompt if task else ""))
        if fault is not None:
            if fault.kind == "not_found":
                return self._business(10000, {"status": "not_found", "image_urls": None, "binary_data_base64": None})
            if fault.kind == "expired":
                return self._business(10000, {"status": "expired", "image_urls": None, "binary_data_base64": None})
            return self._business(int(fault.code))
        if not isinstance(form.get("req_json", ""), str):
            return self._business(50200, message="Request Invalid Args: req_json must be a JSON string")
        try:
            req_json = json.loads(form.get("req_json") or "{}")
        except ValueError:
            return self._business(50200, message="Request Invalid Args: req_json is not valid JSON")
        if task is None or task.req_key != form.get("req_key"):
            return self._business(10000, {"status": "not_found", "image_urls": None, "binary_data_base64": None})
        now = time.monotonic()
        if now - task.submitted > self.state.config.task_ttl:
            return self._business(10000, {"status": "expired", "image_urls": None, "binary_data_base64": None})
        if now < task.done_at:
            queued = now < task.submitted + (task.done_at - task.submitted) * self.state.config.in_queue_share
            return self._business(
                10000,
                {"status": "in_queue" if queued else "generating", "image_urls": None, "binary_data_base64": None},
            )
        host = self.headers.get("Host")
        task_id = form["task_id"]
        if task.seconds:  # a video: its URL, whatever req_json says
            url = f"http://{host}/videos/{task_id}/{task.width}x{task.height}/{task.seconds}s.mp4"
            return self._business(10000, {"status": "done", "video_url": url})
        if req_json.get("return_url"):
            urls = [f"http://{host}/images/{task_id}/{task.width}x{task.height}/{n}.png" for n in range(task.count)]
            return self._business(10000, {"status": "done", "image_urls": urls, "binary_data_base64": None})
        images = [base64.b64encode(_png(task.width, task.height, f"{task_id}/{n}")).decode() for n in range(task.count)]
        return self._business(10000, {"status": "done", "image_urls": None, "binary_data_base64": images})

    # --- Ark
    def _ark_error(self, code: str, message: str, param: str = "") -> None:
        self._send(
            ARK_ERROR_STATUS.get(code, 400),
            {"error": {"code": code, "message": message, "param": param, "type": "BadRequest"}},
        )

    def _ark(self, body: bytes) -> None:
        with self.state.lock:
            self.state.requests["ark"] += 1
        config = self.state.config
        key = self.headers.get("Authorization", "").removeprefix("Bearer ")
        if key not in (config.ark_api_key, *config.ark_api_keys) or key in config.revoked:
            return self._ark_error("AuthenticationError", "the API key in the request is missing or invalid")
        try:
            form = json.loads(body)
        except ValueError:
            return self._ark_error("InvalidParameter", "the request body is not JSON")
        prompt = form.get("prompt") if isinstance(form.get("prompt"), str) else ""
        self.state.last_ark_body = form  # what the last images request asked (a test reads it)
        fault = self._apply(self.state.pick_fault("ark", prompt))
        if fault is not None:
            return self._ark_error(str(fault.code), f"injected {fault.code}")
        if form.get("model") not in ARK_MODELS:
            return self._ark_error(
                "InvalidEndpointOrModel.NotFound", f"The model or endpoint {form.get('model')} does not exist"
            )
        if not prompt:
            return self._ark_error("MissingParameter", "the parameter `prompt` is required", "prompt")
        size = str(form.get("size", "1024x1024"))
        match = re.fullmatch(r"(\d+)x(\d+)", size)
        if not match:
            return self._ark_error(
                "InvalidParameter", f"the parameter `size` specified in the request is not valid: {size}", "size"
            )
        if form["model"] == "doubao-seededit-3-0-i2i-250628" and not form.get("image"):
            return self._ark_error("MissingParameter", "the parameter `image` is required", "image")
        refused = _ark_set_problem(form)
        if refused:
            return self._ark_error("InvalidParameter", refused[1], refused[0])
        with self.state.lock:
            config = self.state.config
            now = time.monotonic()
            if config.max_concurrency is not None and self.state.active(now) >= config.max_concurrency:
                limited = True
            elif (
                config.account_max_concurrency is not None
                and self.state._ark_by_key[key] >= config.account_max_concurrency
            ):
                limited = True
            else:
                limited = False
                self.state._ark_in_flight += 1
                self.state._ark_by_key[key] += 1
                self.state.submissions[prompt] += 1
                self.state.submissions_by_account[key] += 1
                self.state.peak_concurrency = max(self.state.peak_concurrency, self.state.active(now))
                self.state.peak_by_account[key] = max(self.state.peak_by_account[key], self.state._ark_by_key[key])
        if limited:
            return self._ark_error("RateLimitExceeded.EndpointRPMExceeded", "too many concurrent requests")
        generation = self.state.generation
        seed = uuid.uuid4().hex
        sequential = form.get("sequential_image_generation") == "auto"
        count = (form.get("sequential_image_generation_options") or {}).get("max_images", 1) if sequential else 1
        count = min(count, config.set_most) if sequential else count
        try:
            if form.get("stream") is True:
                return self._ark_stream(form, prompt, count, lambda n: self._ark_item(form, prompt, seed, n))
            time.sleep(config.latency)
        finally:
            with self.state.lock:
                if generation == self.state.generation:
                    self.state._ark_in_flight -= 1
                    self.state._ark_by_key[key] -= 1
        items = [self._ark_item(form, prompt, seed, n) for n in range(count)]
        made = sum(1 for item in items if "error" not in item)
        self._send(
            200,
            {
                "model": form["model"],
                "created": int(time.time()),
                "data": items,
                "usage": {"generated_images": made, "output_tokens": 4096 * made, "total_tokens": 4096 * made},
            },
        )

    def _ark_item(self, form: dict, prompt: str, seed: str, n: int) -> dict:
        """One image of an answer, or the error of one that was not made (an `ark_item` fault)."""
        fault = self.state.pick_fault("ark_item", prompt)
        if fault is not None:
            return {"error": {"code": str(fault.code), "message": f"injected {fault.code}"}}
        size = str(form.get("size", "1024x1024"))
        width, height = (int(side) for side in size.split("x"))
        if form.get("response_format") == "b64_json":
            return {"b64_json": base64.b64encode(_png(width, height, f"{seed}/{n}")).decode(), "size": size}
        return {"url": f"http://{self.headers.get('Host')}/images/{seed}/{width}x{height}/{n}.png", "size": size}

    def _ark_stream(self, form: dict, prompt: str, count: int, item) -> None:
        """Group generation streamed: one event per image as it is made (the latency spread over them),
        then `image_generation.completed` and `data: [DONE]`. A `drop` fault on `ark_stream` cuts the
        connection after that many images (`times` counts answers, `delay` how many images first)."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        cut = self.state.pick_fault("ark_stream", prompt)
        made = 0
        for n in range(count):
            if cut is not None and n >= int(cut.delay):
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            time.sleep(self.state.config.latency / count)
            answer = item(n)
            if "error" in answer:
                event = {"type": "image_generation.partial_failed", "image_index": n, "error": answer["error"]}
            else:
                made += 1
                event = {
                    "type": "image_generation.partial_succeeded",
                    "model": form["model"],
                    "created": int(time.time()),
                    "image_index": n,
                    **answer,
                }
            self._sse(event["type"], json.dumps(event))
        usage = {"generated_images": made, "output_tokens": 4096 * made, "total_tokens": 4096 * made}
        done = {
            "type": "image_generation.completed",
            "model": form["model"],
            "created": int(time.time()),
            "usage": usage,
        }
        self._sse(done["type"], json.dumps(done))
        self._sse("", "[DONE]")

    def _sse(self, event: str, data: str) -> None:
        head = f"event: {event}\n" if event else ""
        self.wfile.write(f"{head}data: {data}\n\n".encode())
        self.wfile.flush()

    # --- Seedance (Ark content-generation tasks)
    def _ark_key(self) -> str | None:
        config = self.state.config
        key = self.headers.get("Authorization", "").removeprefix("Bearer ")
        if key not in (config.ark_api_key, *config.ark_api_keys) or key in config.revoked:
            self._ark_error("AuthenticationError", "the API key in the request is missing or invalid")
            return None
        return key

    def _seedance_create(self, body: bytes) -> None:
        with self.state.lock:
            self.state.requests["seedance_create"] += 1
        key = self._ark_key()
        if key is None:
            return None
        try:
            form = json.loads(body)
        except ValueError:
            return self._ark_error("InvalidParameter", "the request body is not JSON")
        content = form.get("content")
        if not isinstance(content, list) or not all(isinstance(item, dict) for item in content):
            return self._ark_error("MissingParameter", "the parameter `content` is required", "content")
        texts = [item for item in content if item.get("type") == "text"]
        prompt = texts[0].get("text") if len(texts) == 1 and isinstance(texts[0].get("text"), str) else ""
        fault = self._apply(self.state.pick_fault("seedance", prompt))
        if fault is not None:
            return self._ark_error(str(fault.code), f"injected {fault.code}")
        problem = _validate_seedance(form, texts, content)
        if problem:
            return self._ark_error(*problem)
        failing = self.state.pick_fault("seedance_result", prompt)
        now = time.monotonic()
        with self.state.lock:
            config = self.state.config
            if (config.max_concurrency is not None and self.state.active(now) >= config.max_concurrency) or (
                config.account_max_concurrency is not None
                and self.state.active_for(key, now) >= config.account_max_concurrency
            ):
                limited = True
            else:
                limited = False
                task_id = f"cgt-{next(self.state._ids)}"
                width, height = _video_size(form.get("resolution", "720p"), form.get("ratio", "16:9"))
                self.state.tasks[task_id] = _Task(
                    req_key=form["model"],
                    prompt=prompt,
                    width=width,
                    height=height,
                    count=1,
                    submitted=now,
                    done_at=now + config.latency,
                    account=key,
                    seconds=int(form.get("duration", 5)),
                    error={"code": str(failing.code), "message": f"injected {failing.code}"} if failing else None,
                    last_frame=bool(form.get("return_last_frame")),
                    body=form,
                )
                self.state.submissions[prompt] += 1
                self.state.submissions_by_account[key] += 1
                self.state.peak_concurrency = max(self.state.peak_concurrency, self.state.active(now))
                self.state.peak_by_account[key] = max(self.state.peak_by_account[key], self.state.active_for(key, now))
        if limited:
            return self._ark_error("RateLimitExceeded.EndpointRPMExceeded", "too many concurrent requests")
        return self._send(200, {"id": task_id})

    def _seedance_task(self, task_id: str, action: str) -> tuple[str, _Task] | None:
        with self.state.lock:
            self.state.requests[action] += 1
        key = self._ark_key()
        if key is None:
            return None
        task = self.state.tasks.get(task_id)
        if task is not None and task.account != key:
            with self.state.lock:
                self.state.foreign_requests += 1
            task = None
        if task is None or not task_id.startswith("cgt-"):
            self._ark_error("ResourceNotFound", f"the task {task_id} does not exist")
            return None
        return key, task

    def _seedance_status(self, task: _Task, now: float) -> str:
        if task.status:
            return task.status
        if now < task.submitted + (task.done_at - task.submitted) * self.state.config.in_queue_share:
            return "queued"
        if now < task.done_at:
            return "running"
        return "failed" if task.error else "succeeded"

    def _seedance_get(self, task_id: str) -> None:
        found = self._seedance_task(task_id, "seedance_get")
        if found is None:
            return None
        _, task = found
        fault = self._apply(self.state.pick_fault("seedance_get", task.prompt))
        if fault is not None:
            return self._ark_error(str(fault.code), f"injected {fault.code}")
        status = self._seedance_status(task, time.monotonic())
        body = task.body
        answer = {
            "id": task_id,
            "model": task.req_key,
            "status": status,
            "error": task.error if status == "failed" else None,
            "seed": body.get("seed", 12345),
            "resolution": body.get("resolution", "720p"),
            "ratio": body.get("ratio", "16:9"),
            "duration": task.seconds,
            "framespersecond": 24,
            "created_at": int(time.time() - (time.monotonic() - task.submitted)),
            "updated_at": int(time.time()),
        }
        if status == "succeeded":
            host = self.headers.get("Host")
            answer["content"] = {
                "video_url": f"http://{host}/videos/{task_id}/{task.width}x{task.height}/{task.seconds}s.mp4"
            }
            if task.last_frame:
                answer["content"]["last_frame_url"] = f"http://{host}/images/{task_id}/{task.width}x{task.height}/9.png"
            answer["usage"] = {"completion_tokens": 108900, "total_tokens": 108900}
        return self._send(200, answer)

    def _seedance_delete(self, task_id: str) -> None:
        found = self._seedance_task(task_id, "seedance_delete")
        if found is None:
            return None
        _, task = found
        now = time.monotonic()
        status = self._seedance_status(task, now)
        if status == "running":
            return self._ark_error("InvalidParameter", f"the task {task_id} is running and cannot be cancelled")
        with self.state.lock:
            if status == "queued":
                task.status, task.done_at = "cancelled", now
                self.state.canceled.append(task_id)
            else:
                self.state.tasks.pop(task_id, None)
        return self._send(200, {})


def _validate_seedance(form: dict, texts: list, content: list) -> tuple[str, str, str] | None:
    """The checks Ark makes on a video task, as far as they are documented: (code, message, param)."""
    model = form.get("model")
    if model not in SEEDANCE_MODELS:
        return "InvalidEndpointOrModel.NotFound", f"The model or endpoint {model} does not exist", "model"
    if len(texts) != 1 or not isinstance(texts[0].get("text"), str) or not texts[0]["text"]:
        return "InvalidParameter", "content must hold exactly one text item", "content"
    images = [item for item in content if item.get("type") == "image_url"]
    if len(images) + 1 != len(content):
        return "InvalidParameter", "content items are text or image_url", "content"
    roles = []
    for item in images:
        url = (item.get("image_url") or {}).get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://", "data:image/")):
            return "InvalidParameter", "image_url.url must be an http(s) URL or a data URI", "content"
        roles.append(item.get("role", "first_frame"))
    if roles not in ([], ["first_frame"], ["first_frame", "last_frame"]) and not (
        1 <= len(roles) <= 4 and set(roles) == {"reference_image"}
    ):
        return "InvalidParameter", f"image roles {roles} are not a supported combination", "content"
    if model.endswith("lite-t2v-250428") and roles:
        return "InvalidParameter", "this model takes no image", "content"
    if model.endswith("lite-i2v-250428") and not roles:
        return "MissingParameter", "this model needs an image", "content"
    if form.get("resolution", "720p") not in VIDEO_SIDES:
        return "InvalidParameter", f"resolution {form.get('resolution')!r} is not valid", "resolution"
    if form.get("ratio", "16:9") not in (*VIDEO_RATIOS, "adaptive", "keep_ratio"):
        return "InvalidParameter", f"ratio {form.get('ratio')!r} is not valid", "ratio"
    shortest, longest = SEEDANCE_MODELS[model]
    duration = form.get("duration", 5)
    if not isinstance(duration, int) or isinstance(duration, bool) or not shortest <= duration <= longest:
        return "InvalidParameter", f"duration must be {shortest}-{longest} seconds, got {duration!r}", "duration"
    seed = form.get("seed", -1)
    if not isinstance(seed, int) or not -1 <= seed <= 2**32 - 1:
        return "InvalidParameter", f"seed {seed!r} is out of range", "seed"
    for flag in ("watermark", "return_last_frame", "camera_fixed"):
        if flag in form and not isinstance(form[flag], bool):
            return "InvalidParameter", f"{flag} must be a boolean", flag
    return None


def _jimeng_size(form: dict) -> tuple[int, int]:
    if "width" in form:
        return int(form["width"]), int(form["height"])
    if form["req_key"] in {"jimeng_t2i_v30", "jimeng_t2i_v31"}:
        return 1328, 1328
    side = int(form.get("size", 2048 * 2048) ** 0.5)
    return side, side


def _validate_jimeng(form: dict) -> tuple[int, str] | None:
    """The checks the real API makes, as far as the documentation states them."""
    req_key = form.get("req_key")
    if req_key not in JIMENG_KEYS:
        return 50200, f"unknown req_key {req_key!r}"
    if "return_url" in form or "logo_info" in form:
        return 50200, "return_url and logo_info belong in GetResult's req_json, not in the submit body"
    prompt = form.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        return 50201, "prompt is required"
    if len(prompt) > 800:
        return 50200, "prompt longer than 800 characters"
    if req_key in JIMENG_VIDEO_KEYS:
        return _validate_jimeng_video(form)
    if ("width" in form) != ("height" in form):
        return 50200, "width and height must be given together"
    v4 = req_key in {"jimeng_t2i_v40", "jimeng_seedream46_cvtob"}
    if "width" in form:
        width, height = form["width"], form["height"]
        if not all(isinstance(v, int) for v in (width, height)):
            return 50200, "width and height must be integers"
        low, high = (1024 * 1024, 4096 * 4096) if v4 else (512 * 512, 2048 * 2048)
        if not low <= width * height <= high or not 1 / 3 <= width / height <= 3:
            return 50200, f"width x height {width}x{height} out of range"
    if v4:
        urls = form.get("image_urls", [])
        limit = 10 if req_key == "jimeng_t2i_v40" else 14
        if not isinstance(urls, list) or len(urls) > limit:
            return 50200, f"image_urls must be a list of at most {limit}"
        if "seed" in form:
            return 50200, "seed is not a parameter of this req_key"
        scale = form.get("scale")
        if scale is not None:
            valid = 0 <= scale <= 1 if req_key == "jimeng_t2i_v40" else isinstance(scale, int) and 1 <= scale <= 100
            if not valid:
                return 50200, f"scale {scale} out of range"
    else:
        if "image_urls" in form:
            return 50200, "image_urls is not a parameter of this req_key"
        seed = form.get("seed", -1)
        if not isinstance(seed, int):
            return 50200, "seed must be an integer"
    return None


def _validate_jimeng_video(form: dict) -> tuple[int, str] | None:
    req_key = form["req_key"]
    fewest, most = JIMENG_VIDEO_KEYS[req_key]
    urls = form.get("image_urls", [])
    if not isinstance(urls, list) or not fewest <= len(urls) <= most:
        return 50200, f"{req_key} takes {fewest}-{most} images in image_urls, got {urls!r}"
    if form.get("frames", 121) not in (121, 241):
        return 50200, f"frames must be 121 or 241, got {form.get('frames')!r}"
    if "frames" not in form:
        form["frames"] = 121
    if "aspect_ratio" in form and (urls or form["aspect_ratio"] not in VIDEO_RATIOS):
        return 50200, f"aspect_ratio {form['aspect_ratio']!r} not accepted here"
    if any(key in form for key in ("width", "height", "size", "scale")):
        return 50200, "video req_keys take frames and aspect_ratio, not width/height/size/scale"
    if not isinstance(form.get("seed", -1), int):
        return 50200, "seed must be an integer"
    return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def handle_error(self, request, client_address):
        # A client that gave up (its timeout) before a slow answer is part of the game, not an error.
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeUpstream:
    """The fake, served from a thread of the current process."""

    def __init__(self, config: FakeConfig | None = None, *, host: str = "127.0.0.1", port: int = 0):
        self.state = FakeState(config or FakeConfig())
        handler = type("BoundHandler", (Handler,), {"state": self.state})
        self.server = _Server((host, port), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="fake-upstream", daemon=True)

    @property
    def config(self) -> FakeConfig:
        return self.state.config

    @property
    def host(self) -> str:
        return f"{self.server.server_address[0]}:{self.server.server_address[1]}"

    def pool_env(self, count: int, concurrency: int) -> dict:
        """The environment for a pool of `count` Jimeng accounts and `count` Ark keys (named a, b, c…),
        each capped at `concurrency`; the fake learns their keys."""
        names = "abcdefghij"[:count]
        jimeng = [
            {
                "name": n,
                "access_key": f"AKPOOL{n.upper()}",
                "secret_key": f"SKPOOL{n.upper()}",
                "concurrency": concurrency,
            }
            for n in names
        ]
        ark = [{"name": n, "api_key": f"ark-pool-{n}", "concurrency": concurrency} for n in names]
        with self.state.lock:
            self.config.accounts.update({a["access_key"]: a["secret_key"] for a in jimeng})
            self.config.ark_api_keys.extend(a["api_key"] for a in ark if a["api_key"] not in self.config.ark_api_keys)
        return {**self.env(), "VOLCENGINE_ACCOUNTS": json.dumps(jimeng), "ARK_ACCOUNTS": json.dumps(ark)}

    def env(self) -> dict:
        """The environment that points a server's processes at this fake."""
        return {
            "VOLCENGINE_ACCESS_KEY": self.config.access_key,
            "VOLCENGINE_SECRET_KEY": self.config.secret_key,
            "VOLCENGINE_HOST": self.host,
            "VOLCENGINE_SCHEME": "http",
            "ARK_API_KEY": self.config.ark_api_key,
            "ARK_BASE_URL": self.url + "/api/v3",
            # The fake's image URLs point at itself, on loopback: the outbound guard must let them through.
            "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8",
        }

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def start(self) -> FakeUpstream:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9900)
    parser.add_argument("--latency", type=float, default=5.0)
    parser.add_argument("--max-concurrency", type=int, default=None)
    args = parser.parse_args()
    fake = FakeUpstream(
        FakeConfig(latency=args.latency, max_concurrency=args.max_concurrency), host=args.host, port=args.port
    )
    config = fake.config
    print(f"Fake Volcengine on {fake.url}")
    print(f"  Jimeng: VOLCENGINE_HOST={fake.host} VOLCENGINE_SCHEME=http")
    print(f"          VOLCENGINE_ACCESS_KEY={config.access_key} VOLCENGINE_SECRET_KEY={config.secret_key}")
    print(f"  Ark:    ARK_BASE_URL={fake.url}/api/v3 ARK_API_KEY={config.ark_api_key}")
    print(f"  State:  GET {fake.url}/_fake/state   Settings: POST {fake.url}/_fake/config")
    fake.server.serve_forever()


if __name__ == "__main__":
    main()
