"""The API's envelope, shared by every app: `{"success": true, "data": ...}` on success and
`{"success": false, "message": ...}` on failure, whatever raised it."""

import logging
from collections.abc import Mapping
from datetime import UTC

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import DatabaseError
from django.http import Http404, HttpResponse, JsonResponse
from drf_spectacular.utils import inline_serializer
from rest_framework import exceptions, parsers, renderers, serializers, status
from rest_framework.response import Response

from .errors import DomainError, InvalidInput
from .text import TextRefused, data_check, json_text

log = logging.getLogger(__name__)


def timestamp(value):
    """ISO 8601 in UTC with millisecond precision: what MongoDB stores, so that a value reads the same
    right after a write and on every later read, on every database."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class DeferredResponse(HttpResponse):
    """An answer that must first wait (a long-poll, an OpenAI-compatible wait). The view returns this
    placeholder at once, and the ASGI server (jimeng_server/asgi.py) awaits `resolve()` in its event
    loop — no thread is held meanwhile — and sends the response it gives, with the headers the
    middleware put on the placeholder. Only under that server: a view asks `waits_async(request)`."""

    def __init__(self, resolve):
        super().__init__()
        self.resolve = resolve


def waits_async(request) -> bool:
    """Whether this request is served by the ASGI server, which can wait without a thread."""
    return getattr(request, "waits_async", False)


class StrictFields:
    """For request serializers: a field the serializer does not declare is refused by name (a parameter
    is honoured or refused, never ignored; `unknown_field(name)` says why it is not taken), and a text
    field given anything but a string (`"prompt": 123`) is refused, not turned into one."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = [name for name in data if name not in self.fields]
            if unknown:
                raise exceptions.ValidationError({str(unknown[0]): [self.unknown_field(str(unknown[0]))]})
            for name, field in self.fields.items():
                value = data.get(name)
                if isinstance(field, serializers.CharField) and value is not None and not isinstance(value, str):
                    raise exceptions.ValidationError({name: [f"must be a string, not {_json_type(value)}."]})
        return super().to_internal_value(data)

    def unknown_field(self, name: str) -> str:
        return "not a field this endpoint takes."


def _json_type(value) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", list: "a list", dict: "an object"}
    return next((name for kind, name in names.items() if isinstance(value, kind)), type(value).__name__)


def ok(data, *, status_code: int = status.HTTP_200_OK) -> Response:
    return Response({"success": True, "data": data}, status=status_code)


def failure(message: str, *, status_code: int, **extra) -> Response:
    return Response({"success": False, "message": message, **extra}, status=status_code)


def _first_error(detail, path: str = "") -> str:
    """The first message in a DRF error tree, prefixed by the field it belongs to."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = path if key == "non_field_errors" else (f"{path}.{key}" if path else str(key))
            return _first_error(value, name)
        return "Invalid input."
    if isinstance(detail, list):
        for index, value in enumerate(detail):
            name = f"{path}[{index}]" if isinstance(value, dict | list) else path
            return _first_error(value, name)
        return "Invalid input."
    text = str(detail)
    return f"{path}: {text}" if path else text


def _text_checked(data, where: str):
    try:
        data_check(data, where)
    except TextRefused as exc:
        raise InvalidInput(str(exc)) from None
    return data


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, with JSON nested deeper than Python recurses (`[` × 50,000) a 400 like any
    other unreadable body, and every string through the text check (jimeng_server/text.py)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON nested too deeply") from None
        return _text_checked(data, "")


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        _text_checked({key: data.getlist(key) for key in data}, "")
        return data


class MultiPartParser(parsers.MultiPartParser):
    """Form fields and the names of uploaded files through the text check."""

    def parse(self, stream, media_type=None, parser_context=None):
        parsed = super().parse(stream, media_type, parser_context)
        _text_checked({key: parsed.data.getlist(key) for key in parsed.data}, "")
        _text_checked({key: [upload.name for upload in parsed.files.getlist(key)] for key in parsed.files}, "files")
        return parsed


class JSONRenderer(renderers.JSONRenderer):
    """DRF's renderer, except that a stored string which cannot be written as UTF-8 (a lone surrogate
    kept before the text check existed) is escaped rather than failing the whole answer."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except UnicodeEncodeError:
            return json_text(data).encode()


def exception_handler(exc, context):
    """DRF's exception handler, replaced: every error leaves in the envelope, none as a stack trace."""
    if isinstance(exc, DomainError):
        response = failure(exc.message, status_code=exc.status, **exc.extra)
        if getattr(exc, "retry_after", None):
            response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, Http404):
        return failure("Not found.", status_code=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, RequestDataTooBig):
        return failure(f"Request body too large ({exc}).", status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, SuspiciousOperation):  # too many fields or files, a malformed multipart body, ...
        return failure(f"Bad request: {exc}", status_code=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, exceptions.ValidationError):
        return failure(_first_error(exc.detail), status_code=exc.status_code, errors=exc.detail)
    if isinstance(exc, exceptions.ParseError):
        return failure(f"Request body is not valid JSON ({exc.detail}).", status_code=exc.status_code)
    if isinstance(exc, exceptions.UnsupportedMediaType):
        request = context.get("request")
        got = request.content_type if request is not None else "unknown"
        return failure(
            f"Send the request body as JSON with 'Content-Type: application/json' (got '{got}').",
            status_code=exc.status_code,
        )
    if isinstance(exc, exceptions.APIException):
        message = str(exc.detail)
        if isinstance(exc, exceptions.NotAuthenticated):
            message = "Missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'."
        response = failure(message, status_code=exc.status_code)
        if getattr(exc, "auth_header", None):
            response["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            response["Retry-After"] = str(int(exc.wait))
        return response
    if isinstance(exc, DatabaseError):  # the database is away, or refused a write for now (a deadlock)
        log.warning("Database error in %s: %s", context.get("view").__class__.__name__, exc)
        response = failure("The database is unavailable or busy; try again.", status_code=503)
        response["Retry-After"] = "1"
        return response
    log.exception("Unhandled error in %s", context.get("view").__class__.__name__)
    return failure("Internal server error; the error was logged.", status_code=500)


def handler404(request, exception=None):
    return JsonResponse({"success": False, "message": f"No endpoint at {request.path}."}, status=404)


def handler400(request, exception=None):
    return JsonResponse({"success": False, "message": "Bad request."}, status=400)


def handler500(request):
    return JsonResponse({"success": False, "message": "Internal server error; the error was logged."}, status=500)


# --- OpenAPI descriptions of the envelope (documentation only) ------------------------------------


class ErrorEnvelope(serializers.Serializer):
    success = serializers.BooleanField(default=False)
    message = serializers.CharField()


def envelope(name: str, data) -> object:
    """The schema of `{"success": true, "data": <data>}` for drf-spectacular."""
    return inline_serializer(name=name, fields={"success": serializers.BooleanField(default=True), "data": data})


def error_responses(*codes: int) -> dict:
    return {code: ErrorEnvelope for code in codes}
