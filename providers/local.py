"""The local provider: no network, no keys. It draws a real PNG of the requested size showing the
prompt, the same picture for the same seed, marked everywhere as a placeholder — or, for a video
model, a real short MP4 of it."""

from __future__ import annotations

import functools
import io
import random
import textwrap
import time

from django.conf import settings
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont, PngImagePlugin

from .base import GenerationRequest, Image, PollResult, Provider, UpstreamError, Video
from .videos import mp4_encode, video_size

BANNER = "LOCAL PLACEHOLDER - not a Jimeng image"
# Pillow's built-in font has no CJK glyphs. Noto Sans CJK (SIL Open Font License 1.1) comes with the
# requirements as the `manimgx-fonts-cjk` wheel, so a fresh machine draws Chinese prompts without
# root; LOCAL_PROVIDER_FONT overrides it, and system fonts stand in if the wheel is missing.
NOTO_SC = 2  # the Simplified Chinese face in the NotoSansCJK collection (JP, KR, SC, TC, HK)
SYSTEM_CJK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
)


def packaged_cjk_font() -> str | None:
    try:
        from importlib.resources import files

        return str(files("manimgx_fonts_cjk") / "NotoSansCJK-VF.otf.ttc")
    except ModuleNotFoundError:
        return None


@functools.lru_cache(maxsize=32)
def font_at(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    candidates = [(settings.LOCAL_PROVIDER_FONT, 0), (packaged_cjk_font(), NOTO_SC)]
    candidates += [(path, NOTO_SC if "Noto" in path else 0) for path in SYSTEM_CJK_FONTS]
    for path, index in candidates:
        if not path:
            continue
        try:
            font = ImageFont.truetype(path, size, index=index)
        except OSError:
            continue
        try:
            font.set_variation_by_name("Medium")  # a variable font starts at Thin: too faint to read
        except (OSError, ValueError):
            pass  # not a variable font, or no such instance
        return font
    return ImageFont.load_default(size=size)


def draw(*, prompt: str, width: int, height: int, seed: int, banner: str = BANNER) -> PILImage.Image:
    """The placeholder picture: a seeded gradient and shapes, the banner, the prompt, size and seed."""
    rng = random.Random(seed)
    top = tuple(rng.randrange(40, 200) for _ in range(3))
    bottom = tuple(rng.randrange(40, 200) for _ in range(3))
    # A vertical gradient between two seeded colours, then a few seeded shapes.
    mask = PILImage.linear_gradient("L").resize((width, height))
    picture = PILImage.composite(
        PILImage.new("RGB", (width, height), bottom), PILImage.new("RGB", (width, height), top), mask
    )
    pen = ImageDraw.Draw(picture)
    for _ in range(6):
        x, y = rng.randrange(width), rng.randrange(height)
        radius = rng.randrange(max(4, min(width, height) // 12), max(8, min(width, height) // 4))
        colour = tuple(rng.randrange(256) for _ in range(3))
        pen.ellipse((x - radius, y - radius, x + radius, y + radius), outline=colour, width=max(2, radius // 10))

    font_size = max(10, min(width, height) // 24)
    font = font_at(font_size)
    pen.rectangle((0, 0, width, font_size * 2), fill=(0, 0, 0))
    pen.text((font_size // 2, font_size // 2), banner, font=font, fill=(255, 210, 0))
    chars_per_line = max(8, int(width / (font_size * 0.6)) - 2)
    lines = textwrap.wrap(prompt, chars_per_line)[: max(1, (height // font_size) // 2 - 2)]
    pen.multiline_text((font_size // 2, font_size * 3), "\n".join(lines), font=font, fill=(255, 255, 255), spacing=4)
    footer = f"{width}x{height}  seed {seed}"
    pen.text((font_size // 2, height - font_size * 2), footer, font=font, fill=(255, 255, 255))
    return picture


def draw_png(*, prompt: str, width: int, height: int, seed: int) -> bytes:
    picture = draw(prompt=prompt, width=width, height=height, seed=seed)
    info = PngImagePlugin.PngInfo()
    info.add_itxt("Description", prompt)
    info.add_text("Software", "jimeng-server local provider")
    info.add_text("Seed", str(seed))
    out = io.BytesIO()
    picture.save(out, format="PNG", pnginfo=info, compress_level=1)
    return out.getvalue()


VIDEO_FPS = 8
VIDEO_BANNER = "LOCAL PLACEHOLDER - not a Jimeng video"


def draw_video(request: GenerationRequest, seed: int) -> Video:
    """A real MP4 of the asked duration, resolution and aspect ratio (from the first reference image
    the ratio would follow, so 16:9 then): the placeholder picture with a bar that fills and a dot
    that travels as it plays, at a few frames a second."""
    options = request.options
    width, height = video_size(options.get("resolution", "720p"), options.get("aspect_ratio"))
    base = draw(prompt=request.prompt, width=width, height=height, seed=seed, banner=VIDEO_BANNER)
    count = max(1, int(options.get("duration", 5)) * VIDEO_FPS)
    bar = max(6, height // 60)
    shown = [base]

    def frames():
        for index in range(count):
            frame = base.copy()
            pen = ImageDraw.Draw(frame)
            done = (index + 1) / count
            pen.rectangle((0, height - bar, int(width * done), height), fill=(255, 210, 0))
            x, radius = int((width - 4 * bar) * done) + 2 * bar, 2 * bar
            pen.ellipse((x - radius, height // 2 - radius, x + radius, height // 2 + radius), fill=(255, 255, 255))
            shown[0] = frame
            yield frame

    data = mp4_encode(frames(), width=width, height=height, fps=VIDEO_FPS)
    last_frame = None
    if options.get("return_last_frame"):
        out = io.BytesIO()
        shown[0].save(out, format="PNG", compress_level=1)
        last_frame = out.getvalue()
    return Video(data=data, last_frame_data=last_frame)


class LocalProvider(Provider):
    """Asynchronous like Jimeng, so local mode exercises the same non-blocking path: `submit` only
    decides the outcome and when it is ready; `poll` draws the picture once that time has come. The
    upstream id carries everything (ready time and seed), so no state is kept anywhere."""

    name = "local"
    style = "async"

    def is_configured(self) -> bool:
        return True

    def expected_seconds(self, spec) -> float:
        return max(0.0, settings.LOCAL_PROVIDER_LATENCY_SECONDS) + 0.5  # the wait it simulates, and the drawing

    def submit(self, request: GenerationRequest) -> str:
        if random.random() < settings.LOCAL_PROVIDER_FAILURE_RATE:
            raise UpstreamError(
                "simulated failure of the local provider (LOCAL_PROVIDER_FAILURE_RATE)",
                code="local_simulated_failure",
                retryable=False,
            )
        seed = request.seed if request.seed is not None and request.seed >= 0 else random.randrange(2**31)
        ready_at_ms = int((time.time() + max(0.0, settings.LOCAL_PROVIDER_LATENCY_SECONDS)) * 1000)
        return f"local-{ready_at_ms}-{seed}"

    def poll(self, request: GenerationRequest, upstream_task_id: str) -> PollResult:
        try:
            _, ready_at_ms, seed = upstream_task_id.split("-")
            ready_at, seed = int(ready_at_ms) / 1000, int(seed)
        except ValueError:
            raise UpstreamError("unknown local task id", code="not_found", retryable=True, resubmit=True) from None
        if time.time() < ready_at:
            return PollResult(done=False)
        if request.output == "videos":
            return PollResult(done=True, videos=(draw_video(request, seed),))
        # A set: one picture per image asked for, the next one half the latency after the last (each is
        # kept as it comes, as with a Seedream stream).
        count = int(request.options.get("n") or 1)
        pause = max(0.0, settings.LOCAL_PROVIDER_LATENCY_SECONDS) / 2
        made = count if pause <= 0 else min(count, 1 + int((time.time() - ready_at) / pause))
        images = tuple(
            Image(
                data=draw_png(prompt=request.prompt, width=request.width, height=request.height, seed=seed + n),
                index=n,
            )
            for n in range(made)
        )
        return PollResult(done=made == count, images=images)


PROVIDER = LocalProvider
