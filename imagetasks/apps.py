from django.apps import AppConfig


class ImageTasksConfig(AppConfig):
    name = "imagetasks"
    verbose_name = "Image tasks"
