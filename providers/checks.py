"""System checks of the providers' configuration (`manage.py check`, and every start): each provider
says what is wrong with its own settings."""

from django.core.checks import Error, Warning, register

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
    return messages
