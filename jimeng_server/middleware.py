"""Checks of a request before any view reads it, under any server (the ASGI server's handler makes the body
check before reading the body at all: jimeng_server/asgi.py): the body's declared size, and the text of
the path and query string (no NUL or lone surrogate: jimeng_server/text.py); and the admin's own
middleware, made only for the admin's requests."""

from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import JsonResponse

from .edge import body_refusal, is_admin_path
from .text import text_problem


class BodySizeLimit:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        meta = request.META
        refusal = body_refusal(request.path, meta.get("CONTENT_LENGTH"), meta.get("HTTP_TRANSFER_ENCODING"))
        if refusal is not None:
            status, message = refusal
            return JsonResponse({"success": False, "message": message}, status=status)
        problem = text_problem(request.path) or next(
            (
                text_problem(text)
                for key in request.GET
                for text in (key, *request.GET.getlist(key))
                if text_problem(text)
            ),
            None,
        )
        if problem:
            return JsonResponse({"success": False, "message": f"The URL holds {problem}."}, status=400)
        return self.get_response(request)


class AdminOnly:
    """For the admin's own middleware (its session, its signed-in user, its messages): made only for a
    request under ADMIN_URL. Every other request (the API's, the playground's, /health) passes straight
    on, carrying no session, user or message store: none of them reads one, a client waiting on a task
    held the three for as long as it waited (2.8 KB a request), and an API answer never sets a session
    cookie."""

    def __call__(self, request):
        if is_admin_path(request.path_info):
            return super().__call__(request)
        return self.get_response(request)


class AdminSessionMiddleware(AdminOnly, SessionMiddleware):
    pass


class AdminAuthenticationMiddleware(AdminOnly, AuthenticationMiddleware):
    pass


class AdminMessageMiddleware(AdminOnly, MessageMiddleware):
    pass
