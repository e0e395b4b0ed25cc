"""Project-level endpoints: health and the model catalog."""

import redis
from django.conf import settings
from django.db import connection
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from providers import registry

from .api import envelope, error_responses, failure, ok
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
        broker = settings.CELERY_BROKER_URL.split("://", 1)[0]
        providers = registry.provider_mode_summary()
        data = {
            "status": "ok",
            "database": {"engine": connection.vendor, "status": database},
            "broker": broker,
            "providers": providers,
            "local_mode": all(mode != "live" for mode in providers.values()),
            # Where images are kept (not probed here: a store that is away fails stores, which retry).
            "storage": (
                {"backend": "s3", "bucket": settings.S3_BUCKET} if settings.S3_BUCKET else {"backend": "filesystem"}
            )
            | {"retention_days": settings.IMAGE_RETENTION_DAYS},
        }
        broken = [] if database == "ok" else ["database"]
        if database == "ok":
            # The upstream accounts: any out of rotation is named with the reason (the server still
            # works on the others; with none left, that provider's tasks fail at once and say why).
            from imagetasks.selectors import accounts_standing

            try:
                standing = accounts_standing()
            except Exception:  # noqa: BLE001 - a partial answer beats none
                standing = []
            data["accounts"] = standing
            out = [f"{a['provider']}:{a['name']}" for a in standing if not a["in_rotation"]]
            if out:
                data["accounts_out_of_rotation"] = out
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


class ModelListView(APIView):
    @extend_schema(
        responses={200: envelope("Models", OpenApiTypes.OBJECT)},
        summary="The models this server knows (image and video), their provider and limits",
    )
    def get(self, request):
        models = []
        for spec in registry.catalog():
            entry = {
                "id": spec.id,
                "type": spec.kind,
                "label": spec.label,
                "aliases": list(spec.aliases),
                "provider": spec.provider,
                "runs_on": registry.provider_choose(spec) if settings.PROVIDER_MODE != "live" else spec.provider,
                "reference_images": {"min": spec.min_reference_images, "max": spec.max_reference_images},
                "max_prompt_chars": spec.max_prompt_chars,
            }
            if spec.kind == "video":
                entry["durations"] = sorted(spec.durations)
                entry["default_duration"] = spec.durations[0]
                entry["aspect_ratios"] = list(spec.ratios)  # none: the video follows the reference image
                entry["resolutions"] = list(spec.resolutions)
                entry["returns_last_frame"] = spec.last_frame
                if spec.by_image_count:
                    entry["picks_by_image_count"] = list(spec.by_image_count)
            else:
                entry.update(
                    {
                        "default_size": f"{spec.default_size[0]}x{spec.default_size[1]}",
                        "size_limits": {
                            "min_side": spec.min_side,
                            "max_side": spec.max_side,
                            "min_pixels": spec.min_area,
                            "max_pixels": spec.max_area,
                            "max_aspect_ratio": spec.max_aspect,
                        },
                        "recommended_sizes": list(spec.recommended_sizes),
                        "scale_range": list(spec.scale_range) if spec.scale_range else None,
                        "options": list(spec.options),
                    }
                )
            models.append(entry)
        return ok(
            {
                "default_model": settings.DEFAULT_MODEL,
                "default_video_model": settings.DEFAULT_VIDEO_MODEL,
                "models": models,
            }
        )
