"""The configuration this server refuses to run with, as Django system checks (`manage.py check`).
The errors tagged `startup` are also enforced when any process starts (jimeng_server/apps.py): a web
server or worker reachable beyond this machine never runs with a weak secret, DEBUG, or no API keys."""

from __future__ import annotations

import ipaddress
import re

from django.conf import settings
from django.core.checks import Error, register

DEFAULT_SECRET = "insecure-local-only-key-set-DJANGO_SECRET_KEY-in-production"
SECRET_KEY_MIN_LENGTH, SECRET_KEY_MIN_UNIQUE_CHARACTERS = 50, 5  # Django's own deploy check
_RATE = re.compile(r"\d+/(s|sec|second|m|min|minute|h|hour|d|day)")


def configuration_problems() -> list[str]:
    """What keeps this configuration from starting: always, and in production."""
    problems = []
    if settings.API_AUTH not in {"auto", "required", "off"}:
        problems.append(f"API_AUTH={settings.API_AUTH!r} is not one of auto, required, off")
    if settings.FAIR_SHARE_BY not in {"user", "key"}:
        problems.append(f"FAIR_SHARE_BY={settings.FAIR_SHARE_BY!r} is not one of user, key")
    if settings.API_RATE_LIMIT and not _RATE.fullmatch(settings.API_RATE_LIMIT):
        problems.append(f"API_RATE_LIMIT={settings.API_RATE_LIMIT!r} is not like 600/min (per s, min, hour or day)")
    for network in [*settings.TRUSTED_PROXIES, *settings.OUTBOUND_ALLOWED_NETWORKS]:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            problems.append(f"{network!r} in TRUSTED_PROXIES or OUTBOUND_ALLOWED_NETWORKS is not an address or network")
    if settings.PRODUCTION and not settings.ALLOW_INSECURE:
        key = settings.SECRET_KEY
        weak = (
            key == DEFAULT_SECRET
            or key.startswith("django-insecure")
            or len(key) < SECRET_KEY_MIN_LENGTH
            or len(set(key)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS
        )
        if weak:
            problems.append(
                f"set DJANGO_SECRET_KEY to a long random string ({SECRET_KEY_MIN_LENGTH}+ characters, "
                f"{SECRET_KEY_MIN_UNIQUE_CHARACTERS}+ different ones)"
            )
        if settings.DEBUG:
            problems.append("turn DJANGO_DEBUG off")
        if settings.API_AUTH == "off":
            problems.append("API_AUTH=off is not allowed: remove it (keys are then required)")
    return problems


def refusal(problems: list[str]) -> str:
    where = (
        f"SERVER_HOST={settings.SERVER_HOST} (or JIMENG_PRODUCTION) means this server is reachable beyond this "
        "machine, so: "
        if settings.PRODUCTION
        else ""
    )
    return "Refusing to start: " + where + "; ".join(problems) + "."


@register("startup")
def check_configuration(app_configs=None, **kwargs):
    problems = configuration_problems()
    return [Error(refusal(problems), id="jimeng_server.E001")] if problems else []
