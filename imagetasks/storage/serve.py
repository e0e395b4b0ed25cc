"""Stored files as HTTP answers, at stable URLs on this server (`/media/<name>`): files on the local disk
are served here, byte ranges included (a video player seeks with them); files in an object store are
a redirect to a freshly signed URL (or to S3_PUBLIC_BASE_URL). A URL in an answer or a webhook keeps
working as long as the file is kept; a file deleted by retention answers 410 Gone.

What is served: a recorded file of a task that exists — an upload, or an output in the task's current
result (never an earlier attempt's). A file stored before records existed is served by the same rule,
read from its path."""

from __future__ import annotations

import mimetypes
import re

from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect, JsonResponse, StreamingHttpResponse

from jimeng_server.numbers import digits_int

from ..models import ImageTask, StoredFile
from .files import UPLOADS

_LEGACY = re.compile(r"^(?:images|videos|uploads)/([^/]+)/[^/]+$")
EXPIRED = "This file expired: it was deleted at the end of the retention period (IMAGE_RETENTION_DAYS)."


def media_answer(request, name: str):
    """`/media/<name>`: the file, if it is one a task keeps; 404 otherwise, 410 once expired."""
    record = StoredFile.objects.filter(pk=name).values_list("task_id", "role").first()
    if record is None:
        legacy = _LEGACY.match(name)
        if legacy is None:
            raise Http404(name)
        record = (legacy.group(1), StoredFile.Role.UPLOAD if name.startswith(UPLOADS + "/") else StoredFile.Role.OUTPUT)
    task_id, role = record
    task = ImageTask.objects.filter(pk=task_id).only("id", "result", "files_expired_at").first()
    if task is None:
        raise Http404(name)
    if task.files_expired_at is not None:
        return JsonResponse({"success": False, "message": EXPIRED}, status=410)
    if role == StoredFile.Role.OUTPUT and name not in task.output_names:
        raise Http404(name)  # an earlier attempt's, or one of a result that did not stand
    return file_response(request, name)


def file_response(request, name: str):
    """A stored file as an answer: a redirect to the object store, or its bytes (the asked range)."""
    try:
        url = default_storage.url(name)
        if url.startswith(("http://", "https://")):  # an object store: it serves the bytes itself
            response = HttpResponseRedirect(url)
            response["Cache-Control"] = "private, no-store"  # a signed URL is only good for a while
            return response
        if not default_storage.exists(name):
            raise Http404(name)
        handle = default_storage.open(name, "rb")
    except (SuspiciousFileOperation, OSError, ValueError):
        raise Http404(name) from None
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    wanted = _RANGE.match(request.headers.get("Range", ""))
    if wanted:  # a player seeking in a video (Safari asks for ranges before it plays at all)
        response = _partial(handle, wanted, content_type)
    else:
        response = FileResponse(handle, content_type=content_type)
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, max-age=3600"  # a user's file: never kept by shared caches
    return response


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _partial(handle, wanted, content_type: str) -> HttpResponse | StreamingHttpResponse:
    """One byte range of a stored file (206), or 416 when it lies outside the file. Numbers past any
    file's size saturate (a 5,000-digit one is no 500)."""
    size = handle.size
    first, last = wanted.groups()
    if first:
        start, end = digits_int(first), min(digits_int(last), size - 1) if last else size - 1
    elif last:
        start, end = max(0, size - digits_int(last)), size - 1
    else:
        start, end = size, size  # "bytes=-": nothing asked for
    if start > end or start >= size:
        handle.close()
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response

    def chunks(left: int = end - start + 1):
        with handle:
            handle.seek(start)
            while left > 0 and (chunk := handle.read(min(left, 64 * 1024))):
                left -= len(chunk)
                yield chunk

    response = StreamingHttpResponse(chunks(), status=206, content_type=content_type)
    response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Content-Length"] = str(end - start + 1)
    return response
