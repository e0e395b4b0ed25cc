"""The Redis visibility timeout must outlast every countdown and every single task run."""

from imagetasks.checks import check_visibility_timeout


def test_defaults_pass(settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
    assert check_visibility_timeout() == []


def test_a_countdown_longer_than_the_visibility_timeout_is_an_error(settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 300}
    settings.WEBHOOK_BACKOFF_MAX_SECONDS = 600
    errors = check_visibility_timeout()
    assert [error.id for error in errors] == ["imagetasks.E001"]
    assert errors[0].msg.startswith(
        "WEBHOOK_BACKOFF_MAX_SECONDS (600 s) must be shorter than REDIS_VISIBILITY_TIMEOUT (300 s)"
    )
