"""System checks of the providers' configuration (`manage.py check`, and every start): each provider
says what is wrong with its own settings; the default models must be in the catalog."""

from django.conf import settings
from django.core.checks import Error, Warning, register

from jimeng_server.errors import InvalidInput

from . import registry


@register()
def check_providers(app_configs=None, **kwargs):
    messages = []
    try:
        names = registry.provider_names()
    except (ImportError, AttributeError) as exc:
        return [Error(f"PROVIDER_MODULES: {exc} (each module must define PROVIDER)", id="providers.E001")]
    for name in names:
        for level, text in registry.provider_get(name).configuration_problems():
            kind = Error if level == "error" else Warning
            messages.append(kind(f"provider {name}: {text}", id=f"providers.{level[0].upper()}002"))
    for setting, kind in (("DEFAULT_MODEL", "image"), ("OPENAI_EDIT_MODEL", "image"), ("DEFAULT_VIDEO_MODEL", "video")):
        try:
            registry.model_resolve(getattr(settings, setting), kind)
        except InvalidInput as exc:
            messages.append(Error(f"{setting}: {exc.message}", id="providers.E003"))
    return messages
