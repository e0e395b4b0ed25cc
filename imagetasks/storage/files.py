"""A task's files: recorded, then written; found and deleted by their records.

Names are `<folder>/<task id>/<stem>-<128 random bits>.<extension>`: no one can guess another task's
file, so a URL to one is a capability. The record (`StoredFile`) is written before the file, so a
crash between the two leaves a record of a file that may exist — deleted like any other — and never a
file nobody knows of. Files stored before records existed are found through the task's result and its
uploads folder (`_legacy_names`)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.utils import timezone
from django.utils.encoding import filepath_to_uri

from ..models import ImageTask, StoredFile

UPLOADS = "uploads"  # references uploaded with a task (OpenAI edits and videos)


def _name(folder: str, task_id: str, stem: str, extension: str) -> str:
    return f"{folder}/{task_id}/{stem}-{secrets.token_urlsafe(16)}.{extension}"


def file_save(*, task_id: str, folder: str, stem: str, extension: str, content, role: str) -> str:
    """Record, then write, one file of a task; the name it is kept under."""
    name = _name(folder, task_id, stem, extension)
    StoredFile.objects.create(name=name, task_id=task_id, role=role)
    saved = default_storage.save(name, content if isinstance(content, File) else ContentFile(content))
    if saved != name:  # a storage that chose another name: that one is recorded too
        StoredFile.objects.get_or_create(name=saved, defaults={"task_id": task_id, "role": role})
    return saved


def upload_save(*, task_id: str, index: int, upload, extension: str) -> str:
    """A reference image uploaded with a task (before the task is written: a failed create deletes it)."""
    return file_save(
        task_id=task_id, folder=UPLOADS, stem=str(index), extension=extension, content=upload, role="upload"
    )


def uploads_save(*, task_id: str, uploads: list[tuple]) -> list[str]:
    """Several uploads, (file, extension) each, in order: all kept, or none (what was saved is deleted)."""
    names: list[str] = []
    try:
        for index, (upload, extension) in enumerate(uploads):
            names.append(upload_save(task_id=task_id, index=index, upload=upload, extension=extension))
    except BaseException:
        files_delete(names)
        raise
    return names


def file_read(name: str) -> bytes:
    with default_storage.open(name, "rb") as stored:
        return stored.read()


def file_url(name: str, request=None) -> str:
    """A stored file's stable URL on this server (`serve.media_answer` answers it, or redirects to a
    freshly signed object-store URL): it keeps working as long as the file is kept."""
    url = settings.MEDIA_URL + filepath_to_uri(name)
    if settings.PUBLIC_BASE_URL:
        return settings.PUBLIC_BASE_URL + url
    if request is not None:
        return request.build_absolute_uri(url)
    return f"http://{settings.SERVER_HOST}:{settings.SERVER_PORT}{url}"  # webhooks: no request at hand


def files_delete(names: Iterable[str]) -> None:
    """Delete files (wherever kept; one already gone is no error), then their records."""
    names = list(dict.fromkeys(names))
    for name in names:
        default_storage.delete(name)
    if names:
        StoredFile.objects.filter(name__in=names).delete()


def _legacy_names(task: ImageTask) -> list[str]:
    """Files of a task stored before records existed: its result's, and its uploads folder."""
    folder = f"{UPLOADS}/{task.id}"
    try:
        uploads = [f"{folder}/{name}" for name in default_storage.listdir(folder)[1]]
    except (FileNotFoundError, NotADirectoryError):
        uploads = []
    return task.output_names + uploads


def task_files(task: ImageTask) -> list[str]:
    """Every file kept for a task: recorded ones, and any from before records."""
    recorded = list(StoredFile.objects.filter(task_id=task.id).values_list("name", flat=True))
    return list(dict.fromkeys(recorded + _legacy_names(task)))


def task_files_delete(task: ImageTask) -> None:
    files_delete(task_files(task))


def uploads_orphaned_delete(
    *, older_than: timedelta = timedelta(hours=1), within: timedelta = timedelta(days=2)
) -> int:
    """Uploads whose task was never written (its request died between saving them and the task):
    recorded, so found and deleted here (the periodic clean-up), once no request can still be at it."""
    now = timezone.now()
    recent = StoredFile.objects.filter(
        role=StoredFile.Role.UPLOAD, created_at__gte=now - within, created_at__lt=now - older_than
    )
    task_ids = set(recent.values_list("task_id", flat=True)[:5000])
    existing = set(ImageTask.objects.filter(pk__in=task_ids).values_list("id", flat=True))
    orphans = list(recent.filter(task_id__in=task_ids - existing).values_list("name", flat=True))
    files_delete(orphans)
    return len(orphans)


def task_outputs_prune(*, task_id: str, keep: Iterable[str] = ()) -> None:
    """Delete a task's recorded outputs other than `keep` (its result): earlier attempts', and all of
    them for a task that failed. Its uploads stay (a retry uses them)."""
    keep = set(keep)
    names = StoredFile.objects.filter(task_id=task_id, role="output").values_list("name", flat=True)
    files_delete([name for name in names if name not in keep])
