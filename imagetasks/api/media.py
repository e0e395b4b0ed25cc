"""Stored files at stable URLs on this server (`/media/images/<task>/…`, `/media/videos/<task>/…`,
`/media/uploads/<task>/…`), byte ranges included (a video player seeks with them),
whatever storage keeps them: files on the local disk are served here; files in an object store are a
redirect to a freshly signed URL (or to S3_PUBLIC_BASE_URL), so a URL in an answer or a webhook
keeps working as long as the file is kept. A file deleted by retention answers 410 Gone."""

import mimetypes
import re

from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect, JsonResponse, StreamingHttpResponse

from jimeng_server.errors import NotFound
from jimeng_server.numbers import digits_int

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
    return stored_file(request, name)


def stored_file(request, name: str):
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
    """One byte range of a stored file (206), or 416 when it lies outside the file."""
    size = handle.size
    first, last = wanted.groups()
    if first:  # numbers past any file's size saturate (a 5,000-digit one is no 500)
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
