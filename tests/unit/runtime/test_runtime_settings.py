import pytest
from pydantic import SecretStr

from shopwatch.runtime.settings import RuntimeSettings, redact_url


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (
        "SHOPWATCH_MONGO_URL",
        "SHOPWATCH_S3_SECRET_KEY",
        "SHOPWATCH_TOPIC_PREFIX",
        "SHOPWATCH_SERVICE_NAME",
        "SHOPWATCH_KAFKA_BOOTSTRAP",
    ):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_reads_prefixed_environment(env: pytest.MonkeyPatch) -> None:
    env.setenv("SHOPWATCH_KAFKA_BOOTSTRAP", "kafka:9093")
    env.setenv("SHOPWATCH_SERVICE_NAME", "routing")
    env.setenv("SHOPWATCH_SERVICE_PORT", "8003")
    env.setenv("SHOPWATCH_DLQ_MAX_PER_WINDOW", "3")
    settings = RuntimeSettings()
    assert settings.kafka_bootstrap == "kafka:9093"
    assert settings.service_port == 8003
    assert settings.dlq_max_per_window == 3
    assert settings.database_name == "routing"


def test_secrets_never_in_repr_str_or_dump(env: pytest.MonkeyPatch) -> None:
    env.setenv("SHOPWATCH_MONGO_URL", "mongodb://svc:hunter2-mongo@db1:27017,db2:27017/x")
    env.setenv("SHOPWATCH_S3_SECRET_KEY", "s3-very-secret-key")
    settings = RuntimeSettings()
    for text in (
        repr(settings),
        str(settings),
        str(settings.model_dump()),
        settings.model_dump_json(),
    ):
        assert "hunter2-mongo" not in text
        assert "s3-very-secret-key" not in text
    # ...while the code that needs them can still read them.
    assert settings.s3_secret_key.get_secret_value() == "s3-very-secret-key"
    assert "hunter2-mongo" in settings.mongo_url.get_secret_value()


def test_secret_values_include_url_password(env: pytest.MonkeyPatch) -> None:
    settings = RuntimeSettings(
        mongo_url=SecretStr("mongodb://svc:pa55word@db:27017"), s3_secret_key=SecretStr("abcd1234")
    )
    values = settings.secret_values()
    assert "pa55word" in values
    assert "abcd1234" in values
    assert settings.mongo_url_for_logs() == "mongodb://svc:***@db:27017"


def test_topic_applies_prefix(env: pytest.MonkeyPatch) -> None:
    assert RuntimeSettings().topic("reports.submitted.v1") == "reports.submitted.v1"
    prefixed = RuntimeSettings(topic_prefix="t-abc")
    assert prefixed.topic("reports.submitted.v1") == "t-abc.reports.submitted.v1"
    assert RuntimeSettings(topic_prefix="t-x.").topic("a.v1") == "t-x.a.v1"


def test_subclass_adds_fields_with_same_prefix(env: pytest.MonkeyPatch) -> None:
    class RoutingSettings(RuntimeSettings):
        unroutable_alert: int = 1

    env.setenv("SHOPWATCH_UNROUTABLE_ALERT", "7")
    env.setenv("SHOPWATCH_SERVICE_NAME", "routing")
    settings = RoutingSettings()
    assert settings.unroutable_alert == 7
    assert settings.service_name == "routing"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mongodb://u:p@h:1/db", "mongodb://u:***@h:1/db"),
        ("mongodb://u:p@h1:1,h2:2/db?replicaSet=rs", "mongodb://u:***@h1:1,h2:2/db?replicaSet=rs"),
        ("mongodb://h:1/db", "mongodb://h:1/db"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_invalid_values_are_rejected(env: pytest.MonkeyPatch) -> None:
    env.setenv("SHOPWATCH_SERVICE_PORT", "0")
    with pytest.raises(ValueError, match="service_port"):
        RuntimeSettings()
