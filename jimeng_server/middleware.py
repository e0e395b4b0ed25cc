"""Refuse oversized and chunked request bodies before anything reads them (DRF's JSON parser streams the body
and so bypasses Django's own DATA_UPLOAD_MAX_MEMORY_SIZE check)."""

from django.conf import settings
from django.http import JsonResponse

UPLOAD_PATHS = {"/v1/images/edits"}  # multipart requests carrying images


class BodySizeLimit:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            # Django reads a body by its Content-Length; a chunked one would be read as empty.
            message = "Send the request body with a Content-Length header (chunked bodies are not accepted)."
            return JsonResponse({"success": False, "message": message}, status=411)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if request.path in UPLOAD_PATHS:
            limit = settings.UPLOAD_MAX_REQUEST_BYTES
        if limit and length > limit and not request.path.startswith("/" + settings.ADMIN_URL):
            message = f"Request body too large: at most {limit} bytes."
            return JsonResponse({"success": False, "message": message}, status=413)
        return self.get_response(request)
