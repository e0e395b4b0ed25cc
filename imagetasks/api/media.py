"""Stored files at stable URLs on this server (`/media/images/<task>/…`, `/media/uploads/<task>/…`),
whatever storage keeps them: files on the local disk are served here; files in an object store are a
redirect to a freshly signed URL (or to S3_PUBLIC_BASE_URL), so a URL in an answer or a webhook
keeps working as long as the file is kept. A file deleted by retention answers 410 Gone."""

import mimetypes
import re

from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponseRedirect, JsonResponse

from jimeng_server.errors import NotFound

from .. import selectors

_TASK_FILE = re.compile(r"^(?:images|videos|uploads)/([^/]+)/[^/]+$")
EXPIRED = "This file expired: it was deleted at the end of the retention period (IMAGE_RETENTION_DAYS)."


def media_serve(request, name: str):
    match = _TASK_FILE.match(name)
    if not match:
        raise Http404(name)
    try:
        task = selectors.task_get(task_id=match.group(1), fields=("id", "files_expired_at"))
    except NotFound:
        raise Http404(name) from None
    if task.files_expired_at is not None:
        return JsonResponse({"success": False, "message": EXPIRED}, status=410)
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
    response = FileResponse(handle, content_type=content_type)
    response["Cache-Control"] = "private, max-age=3600"  # a user's image: never kept by shared caches
    return response
