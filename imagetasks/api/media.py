"""`/media/<name>`: a stored file at its stable URL (what storage serves, and its rules: storage/serve.py)."""

from ..storage import media_answer


def media_serve(request, name: str):
    return media_answer(request, name)
