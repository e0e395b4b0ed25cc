from django.apps import AppConfig


class ProvidersConfig(AppConfig):
    name = "providers"
    verbose_name = "Image providers"

    def ready(self):
        from . import checks  # noqa: F401 - registers the system checks
