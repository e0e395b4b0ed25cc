"""What goes when a user goes: their tasks' stored images and uploads, their idempotency keys and
limit counters (the tasks themselves follow by cascade), whether deleted through the API or the admin. Here, because users know nothing of image tasks."""

from django.db import transaction
from django.db.models.signals import pre_delete
from django.dispatch import receiver

from users.models import User

from . import storage
from .models import IdempotencyKey, ImageTask
from .services.limits import limits_forget


@receiver(pre_delete, sender=User, dispatch_uid="imagetasks-user-deleted")
def _user_deleted(sender, instance: User, **kwargs) -> None:
    names = [name for task in ImageTask.objects.filter(user_id=instance.pk) for name in storage.task_files(task)]
    IdempotencyKey.objects.filter(user_id=instance.pk).delete()
    limits_forget(user_id=instance.pk)

    transaction.on_commit(lambda: storage.files_delete(names))  # only once the rows are gone for good
