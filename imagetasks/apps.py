from django.apps import AppConfig


class ImageTasksConfig(AppConfig):
    name = "imagetasks"
    verbose_name = "Tasks"

    def ready(self):
        from jimeng_server.parts import health_part_register, metrics_collector_register

        from . import checks, signals  # noqa: F401 - registers the system checks and signal receivers
        from .observe import StateCollector, health_part

        health_part_register(health_part)
        metrics_collector_register(StateCollector())
