"""The people (or client accounts) that image tasks belong to."""

from django.db import models

from jimeng_server.ids import new_id

USER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,63}$"


class User(models.Model):
    # A string key chosen by the client (the seed's examples use "user_123") or generated. Stored as
    # `_id`, so that on MongoDB it is the document's own key.
    id = models.CharField(primary_key=True, max_length=64, default=new_id, editable=False, db_column="_id")
    # Optional: users that first appear through a task carry no email until someone sets one.
    email = models.EmailField("email", max_length=254, unique=True, null=True, blank=True)
    name = models.CharField("name", max_length=200, blank=True, default="")
    created_at = models.DateTimeField("created", auto_now_add=True)
    updated_at = models.DateTimeField("updated", auto_now=True)

    class Meta:
        verbose_name = "user"
        verbose_name_plural = "users"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name or self.id} <{self.email}>" if self.email else (self.name or self.id)
