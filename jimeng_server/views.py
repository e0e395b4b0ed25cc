"""Project-level endpoints: health (with the parts the apps add) and ping."""

import redis
from django.conf import settings
from django.db import connection
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny

from .api import envelope, error_responses, failure, ok
from .apiview import APIView
from .parts import health_parts
from .shared_redis import shared_redis


class HealthView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        responses={200: envelope("Health", OpenApiTypes.OBJECT), **error_responses(503)},
        summary="Liveness and configuration summary",
    )
    def get(self, request):
        try:
            connection.ensure_connection()
            database = "ok"
        except Exception:  # noqa: BLE001 - any database failure makes us unhealthy
            database = "unreachable"
        data = {
            "status": "ok",
            "database": {"engine": connection.vendor, "status": database},
            "broker": settings.CELERY_BROKER_URL.split("://", 1)[0],
        }
        broken = [] if database == "ok" else ["database"]
        for part in health_parts():  # what the apps add: providers, storage, accounts (jimeng_server/parts.py)
            try:
                added, part_broken = part(database_ok=database == "ok")
            except Exception:  # noqa: BLE001 - a partial answer beats none
                continue
            data.update(added)
            broken += part_broken
        client = shared_redis()
        if client is not None:
            # The broker, limits, caps and status changes: when it is away, creates are kept in the
            # database and sent on when it returns; this says so.
            try:
                client.ping()
                data["redis"] = {"status": "ok"}
            except redis.RedisError:
                data["redis"] = {"status": "unreachable"}
                broken.append("redis")
        if broken:
            data["status"] = "degraded"
            return failure(f"{' and '.join(broken)} unreachable", status_code=503, data=data)
        return ok(data)


class PingView(APIView):
    """The API stack and nothing else (authentication, throttling, parsing, the envelope; no
    database): a cheap liveness check through the same path as every API call, and the baseline
    `make bench` holds the task endpoints against."""

    @extend_schema(responses={200: envelope("Pong", OpenApiTypes.OBJECT)}, summary="Answer at once")
    def get(self, request):
        return ok({"pong": True})

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses={200: envelope("PongParsed", OpenApiTypes.OBJECT)},
        summary="Parse the JSON body, answer at once",
    )
    def post(self, request):
        return ok({"pong": True, "fields": len(request.data) if isinstance(request.data, dict) else 0})
