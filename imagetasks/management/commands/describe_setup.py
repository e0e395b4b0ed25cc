"""Prints where the server listens and what it runs on, before `make run` starts the processes."""

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection

from providers import registry


class Command(BaseCommand):
    help = "Describe the configuration the server is about to run with."

    def handle(self, *args, **options):
        base = f"http://{settings.SERVER_HOST}:{settings.SERVER_PORT}"
        providers = registry.provider_mode_summary()
        broker = settings.CELERY_BROKER_URL.split("://", 1)[0]
        lines = [
            "",
            f"Jimeng Server on {base}",
            f"  API:       {base}/api/v1/ai/image/task   (docs: {base}/api/docs/)",
            f"  Health:    {base}/health",
            f"  Admin:     {base}/{settings.ADMIN_URL}   (create an operator with `make superuser`)",
            f"  Database:  {connection.vendor} {connection.settings_dict.get('NAME')}",
            f"  Broker:    {broker}" + (f" ({settings.BROKER_DIR})" if broker == "filesystem" else ""),
        ]
        for name, mode in providers.items():
            lines.append(f"  Provider:  {name}: {mode}")
        if all(mode != "live" for mode in providers.values()):
            lines.append(
                "  No provider has credentials: every model is drawn by the local provider (placeholder PNGs)."
            )
        self.stdout.write("\n".join(lines) + "\n")
