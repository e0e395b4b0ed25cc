"""The API's view class (DRF's, remembered by the request it answers) and what is undone once the
request is answered. Apart from jimeng_server/api.py, which DRF's settings name: importing DRF's views
imports those settings."""

from rest_framework import views


class APIView(views.APIView):
    """DRF's view, remembered by the request it answers so that, once answered, `let_go` can undo
    what ties them together."""

    def initialize_request(self, request, *args, **kwargs):
        request.api_view = self
        return super().initialize_request(request, *args, **kwargs)


def let_go(request, response=None) -> None:
    """After a request is answered: the reference cycles DRF and Django leave between a view, its
    request and its response broken (the view holds both, and each points back at it — a parser's and
    a renderer's context; Django's `view.head = view.get`), so that all of it is freed at once, by
    reference counting. Otherwise it is freed by the garbage collector — soon for a quick request, but
    a request that waited (a long-poll, an event stream) has outlived the young collections by then and
    is left for a full one, which at 10,000 waiters walks a million objects (jimeng_server/garbage.py)."""
    view = request.__dict__.pop("api_view", None)
    if view is None:
        return
    answers = (response, view.__dict__.get("response"))
    drf_request = view.__dict__.get("request")
    view.__dict__.clear()
    for answer in answers:
        if answer is not None and "renderer_context" in answer.__dict__:
            answer.renderer_context = None
    if drf_request is not None and "parser_context" in drf_request.__dict__:
        drf_request.parser_context = None
