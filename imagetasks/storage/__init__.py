"""Storage: the only code that writes, serves and deletes a task's files, on the local disk or in an
object store (Django's default storage: django-storages' S3Storage when S3_BUCKET is set).

- `files`: every file is recorded (`StoredFile`) before it is written, under a name no one can guess
  (128 random bits), so deletion and retention find every one of them — each attempt's outputs, last
  frames, uploads — and an URL is a capability.
- `outputs`: what an upstream made, downloaded through the outbound guard, checked to be what it claims
  (an image, an MP4), and stored.
- `serve`: a stored file as an HTTP answer: its bytes (byte ranges too) or a redirect to the store."""

from .files import (
    UPLOADS,
    file_read,
    file_url,
    files_delete,
    task_files,
    task_files_delete,
    task_outputs_prune,
    upload_save,
    uploads_orphaned_delete,
    uploads_save,
)
from .outputs import image_facts, image_store, item_error, outputs_store
from .serve import file_response, media_answer

__all__ = [
    "UPLOADS",
    "file_read",
    "file_response",
    "file_url",
    "files_delete",
    "image_facts",
    "image_store",
    "item_error",
    "media_answer",
    "outputs_store",
    "task_files",
    "task_files_delete",
    "task_outputs_prune",
    "upload_save",
    "uploads_orphaned_delete",
    "uploads_save",
]
