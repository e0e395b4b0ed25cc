from django.apps import AppConfig


class ImageTasksConfig(AppConfig):
    name = "imagetasks"
    verbose_name = "Image tasks"

    def ready(self):
        from . import checks, signals  # noqa: F401 - registers the system checks and signal receivers
