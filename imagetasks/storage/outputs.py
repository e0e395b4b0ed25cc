"""What an upstream made, kept: each image or video downloaded (through the outbound guard: an
upstream's URL, or a redirect from it, never reaches an internal address), checked to be what it
claims, and stored with its facts for the task's result (upstream URLs die within hours).

Failures say whether trying again can help: a download that timed out, was cut off or answered an
error may work next time (`retryable`); a body that is not what was promised — HTML instead of an
MP4, text instead of an image, an image too large to decode — will be the same next time, so it ends
the task at once (code `bad_output`)."""

from __future__ import annotations

import io
import logging

from django.conf import settings
from PIL import Image as PILImage

from jimeng_server.outbound import OutboundBlocked, OutboundError, fetch
from providers.base import Image, ItemError, UpstreamError, Video
from providers.videos import mp4_last_frame_png, mp4_probe

from .files import file_save, files_delete

log = logging.getLogger(__name__)
_EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "gif"}


def bad_output(message: str) -> UpstreamError:
    return UpstreamError(message, code="bad_output")


def download(url: str, *, what: str, max_bytes: int, timeout: float) -> bytes:
    try:
        answer = fetch(url, max_bytes=max_bytes, timeout=timeout)
    except OutboundBlocked as exc:
        raise UpstreamError(f"the generated {what} was not downloaded: {exc}", code="download_blocked") from None
    except OutboundError as exc:
        raise UpstreamError(
            f"could not download the generated {what} ({exc})", code="download_failed", retryable=True
        ) from None
    if not 200 <= answer.status_code < 300:
        raise UpstreamError(
            f"could not download the generated {what} (HTTP {answer.status_code})",
            code="download_failed",
            retryable=True,
        )
    return answer.content


def image_facts(data: bytes) -> dict:
    """Width, height, content type and file extension of an image; `bad_output` when it is not one,
    or declares more than IMAGE_MAX_PIXELS."""
    try:
        with PILImage.open(io.BytesIO(data)) as picture:
            width, height, fmt = picture.width, picture.height, picture.format
    except PILImage.DecompressionBombError:
        width, height, fmt = settings.IMAGE_MAX_PIXELS, 2, None
    except (OSError, ValueError):
        raise bad_output("the upstream returned data that is not an image") from None
    if width * height > settings.IMAGE_MAX_PIXELS:
        raise bad_output(f"the upstream returned an image of more than {settings.IMAGE_MAX_PIXELS} pixels")
    return {
        "width": width,
        "height": height,
        "content_type": PILImage.MIME.get(fmt, ""),
        "extension": _EXTENSIONS.get(fmt, "bin"),
    }


def _save(task_id: str, folder: str, stem: str, extension: str, data: bytes, what: str) -> str:
    """A failing disk or object store is a passing fault: the task tries again later."""
    try:
        return file_save(task_id=task_id, folder=folder, stem=stem, extension=extension, content=data, role="output")
    except Exception as exc:  # noqa: BLE001 - the disk or the object store: try again later
        raise UpstreamError(
            f"could not store the {what} ({type(exc).__name__})", code="store_failed", retryable=True
        ) from None


def _image(task_id: str, stem: str, image: Image, saved: list[str]) -> dict:
    data = image.data
    if data is None:
        data = download(
            image.url,
            what="image",
            max_bytes=settings.IMAGE_DOWNLOAD_MAX_BYTES,
            timeout=settings.IMAGE_DOWNLOAD_TIMEOUT_SECONDS,
        )
    facts = image_facts(data)
    name = _save(task_id, "images", stem, facts["extension"], data, "image")
    saved.append(name)
    entry = {"name": name, "width": facts["width"], "height": facts["height"], "content_type": facts["content_type"]}
    if image.url:
        entry["source_url"] = image.url
    return entry


def _video(task_id: str, stem: str, video: Video, saved: list[str]) -> dict:
    data = video.data
    if data is None:
        data = download(
            video.url,
            what="video",
            max_bytes=settings.VIDEO_DOWNLOAD_MAX_BYTES,
            timeout=settings.VIDEO_DOWNLOAD_TIMEOUT_SECONDS,
        )
    try:
        facts = mp4_probe(data)
    except ValueError as exc:
        raise bad_output(f"the upstream returned a video that is not an MP4 ({exc})") from None
    name = _save(task_id, "videos", stem, "mp4", data, "video")
    saved.append(name)
    entry = {"name": name, **facts, "content_type": "video/mp4"}
    if video.url:
        entry["source_url"] = video.url
    frame = video.last_frame_data
    if frame is None and video.last_frame_url:
        frame = download(
            video.last_frame_url,
            what="last frame",
            max_bytes=settings.IMAGE_DOWNLOAD_MAX_BYTES,
            timeout=settings.IMAGE_DOWNLOAD_TIMEOUT_SECONDS,
        )
    if frame is not None:
        entry["last_frame"] = _still(task_id, f"{stem}-last", frame, "last frame", saved)
    else:  # every video has a thumbnail: its last frame, taken from the MP4 itself
        try:
            entry["thumbnail"] = _still(task_id, f"{stem}-thumbnail", mp4_last_frame_png(data), "thumbnail", saved)
        except ValueError:
            log.info("no thumbnail for a video of task %s: no readable frame", task_id)
    return entry


def _still(task_id: str, stem: str, data: bytes, what: str, saved: list[str]) -> dict:
    described = image_facts(data)
    name = _save(task_id, "videos", stem, described["extension"], data, what)
    saved.append(name)
    return {
        "name": name,
        "width": described["width"],
        "height": described["height"],
        "content_type": described["content_type"],
    }


def _deleting_on_failure(task_id: str, saved: list[str]):
    """Files this call stored are deleted if it fails: nothing of a failed store is left or served."""
    try:
        files_delete(saved)
    except Exception:
        log.warning("could not delete the files of a failed store of task %s", task_id, exc_info=True)


def outputs_store(*, task_id: str, attempt: int, images=(), videos=(), skip=frozenset()) -> dict:
    """Store what one attempt made: the task's result (`{"images": [...]}` or `{"videos": [...]}`; a
    set's failed items as `errors`). Images of a set already kept (their index in `skip`) are passed
    over. If any part fails, what this call stored is deleted before the error goes up."""
    saved: list[str] = []
    try:
        if videos:
            return {"videos": [_video(task_id, f"{attempt}-{n}", video, saved) for n, video in enumerate(videos)]}
        stored, errors = [], []
        for n, item in enumerate(images):
            index = n if item.index is None else item.index
            if index in skip:
                continue
            if isinstance(item, ItemError):
                errors.append(item_error(item))
            else:
                stored.append(_image(task_id, f"{attempt}-{index}", item, saved) | {"index": index})
        return {"images": stored, **({"errors": errors} if errors else {})}
    except BaseException:
        _deleting_on_failure(task_id, saved)
        raise


def item_error(item: ItemError) -> dict:
    return {"index": item.index, "code": item.code, "message": item.message}


def image_store(*, task_id: str, attempt: int, image: Image) -> dict:
    """One image of a set, kept the moment it arrives: its entry in the task's result."""
    saved: list[str] = []
    try:
        return _image(task_id, f"{attempt}-{image.index}", image, saved) | {"index": image.index}
    except BaseException:
        _deleting_on_failure(task_id, saved)
        raise
