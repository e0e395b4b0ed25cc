"""Saving the images a provider returned into our storage (upstream URLs die after 24 hours), and
deleting stored files (a task's images and uploads) by name."""

from __future__ import annotations

import io

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from jimeng_server.outbound import OutboundBlocked, OutboundError, fetch

from .base import Image, UpstreamError

_EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "gif"}


def download(url: str, *, what: str = "image", max_bytes: int | None = None, timeout: float | None = None) -> bytes:
    """Through the outbound guard, like every request to an address someone else chose: an upstream's
    file URL (or a redirect from it) never reaches an internal address."""
    try:
        answer = fetch(
            url,
            max_bytes=max_bytes or settings.IMAGE_DOWNLOAD_MAX_BYTES,
            timeout=timeout or settings.IMAGE_DOWNLOAD_TIMEOUT_SECONDS,
        )
    except OutboundBlocked as exc:
        raise UpstreamError(f"the generated {what} was not downloaded: {exc}") from None
    except OutboundError as exc:
        raise UpstreamError(f"could not download the generated {what} ({exc})", retryable=True) from None
    if not 200 <= answer.status_code < 300:
        raise UpstreamError(f"could not download the generated {what} (HTTP {answer.status_code})", retryable=True)
    return answer.content


def image_describe(data: bytes) -> dict:
    """Width, height, format, content type and file extension of an image; refused (as an upstream
    fault) when it is not one, or too large to decode."""
    try:
        with PILImage.open(io.BytesIO(data)) as picture:
            width, height, fmt = picture.width, picture.height, picture.format
    except PILImage.DecompressionBombError:
        width, height, fmt = settings.IMAGE_MAX_PIXELS, 2, None
    except (OSError, ValueError) as exc:
        raise UpstreamError("the upstream returned data that is not an image", retryable=True) from exc
    if width * height > settings.IMAGE_MAX_PIXELS:
        raise UpstreamError(f"the upstream returned an image of more than {settings.IMAGE_MAX_PIXELS} pixels")
    return {
        "width": width,
        "height": height,
        "content_type": PILImage.MIME.get(fmt, ""),
        "extension": _EXTENSIONS.get(fmt, "bin"),
    }


def store(name: str, data: bytes, what: str = "image") -> str:
    """Save what an upstream made under `name`; the name it got. A failing disk or object store is a
    passing fault: the task tries again later."""
    try:
        return default_storage.save(name, ContentFile(data))
    except Exception as exc:  # noqa: BLE001 - the disk or the object store: try again later
        raise UpstreamError(f"could not store the {what} ({type(exc).__name__})", retryable=True) from None


def images_store(*, task_id: str, attempt: int, images: list[Image]) -> list[dict]:
    """Store each image under images/<task_id>/ and describe it for `ImageTask.result`."""
    stored = []
    for index, image in enumerate(images):
        data = image.data if image.data is not None else download(image.url)
        described = image_describe(data)
        name = store(f"images/{task_id}/{attempt}-{index}.{described['extension']}", data)
        entry = {
            "name": name,
            "width": described["width"],
            "height": described["height"],
            "content_type": described["content_type"],
        }
        if image.url:
            entry["source_url"] = image.url
        stored.append(entry)
    return stored


def images_delete(names: list[str]) -> None:
    for name in names:
        default_storage.delete(name)
