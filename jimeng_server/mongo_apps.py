"""App configs for Django's contrib apps: their admin section names (operators' accounts are
"Operators", so that the admin has one "Users" section: the API's users), and on MongoDB
ObjectIdAutoField instead of AutoField."""

from axes.apps import AppConfig as AxesConfig
from django.contrib.admin.apps import AdminConfig
from django.contrib.auth.apps import AuthConfig
from django.contrib.contenttypes.apps import ContentTypesConfig

OBJECT_ID = "django_mongodb_backend.fields.ObjectIdAutoField"


class MongoAdminConfig(AdminConfig):
    default_auto_field = OBJECT_ID


class OperatorsAuthConfig(AuthConfig):
    verbose_name = "Operators"


class MongoAuthConfig(OperatorsAuthConfig):
    default_auto_field = OBJECT_ID


class MongoContentTypesConfig(ContentTypesConfig):
    default_auto_field = OBJECT_ID


class MongoAxesConfig(AxesConfig):
    default_auto_field = OBJECT_ID
