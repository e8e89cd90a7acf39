"""Settings come from the environment, validated with messages that name the variable."""

from __future__ import annotations

import pytest

from worker.config import EMBEDDED_BROKER_URL, ConfigError, load_settings


def test_defaults_need_no_server():
    settings = load_settings({})
    assert settings.database_url == "sqlite:///dirsync.db"
    assert settings.broker_url == EMBEDDED_BROKER_URL and settings.broker_is_embedded
    assert settings.workos_base_url == "https://api.workos.com"
    assert settings.uses_emulator and settings.webhook_secrets == ()
    assert settings.pacing_redis_url is None


def test_values_are_parsed_and_normalised():
    settings = load_settings(
        {
            "DATABASE_URL": "postgres://u@db/x",
            "CELERY_BROKER_URL": "redis://r:6379/0",
            "WORKOS_API_KEY": " sk_live_abc ",
            "WORKOS_BASE_URL": "http://127.0.0.1:4100/",
            "WORKOS_WEBHOOK_SECRET": "new_secret, old_secret ,",
            "DIRSYNC_WEBHOOK_TOLERANCE_SECONDS": "300",
        }
    )
    assert settings.database_url == "postgresql+psycopg://u@db/x"
    assert settings.pacing_redis_url == "redis://r:6379/0"  # shared pacing through the broker
    assert settings.workos_api_key == "sk_live_abc"
    assert settings.workos_base_url == "http://127.0.0.1:4100"
    assert settings.webhook_secrets == ("new_secret", "old_secret")
    assert settings.webhook_tolerance_seconds == 300


def test_secrets_never_appear_in_repr():
    settings = load_settings({"WORKOS_API_KEY": "sk_live_zzz", "WORKOS_WEBHOOK_SECRET": "whsec_q"})
    assert "sk_live_zzz" not in repr(settings) and "whsec_q" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"CELERY_BROKER_URL": "amqp://x"}, "CELERY_BROKER_URL"),
        ({"WORKOS_BASE_URL": "api.workos.com"}, "WORKOS_BASE_URL"),
        ({"DIRSYNC_WEBHOOK_MAX_BYTES": "lots"}, "DIRSYNC_WEBHOOK_MAX_BYTES"),
        ({"DIRSYNC_WEBHOOK_TOLERANCE_SECONDS": "0"}, "DIRSYNC_WEBHOOK_TOLERANCE_SECONDS"),
        ({"DIRSYNC_DIRECTORY_USERS_PER_SECOND": "-1"}, "DIRSYNC_DIRECTORY_USERS_PER_SECOND"),
    ],
)
def test_bad_values_fail_with_the_variable_named(env, names):
    with pytest.raises(ConfigError, match=names):
        load_settings(env)
