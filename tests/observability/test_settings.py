"""The observability settings: read from the environment, checked at start."""

from __future__ import annotations

import pytest

from server.config import Settings, parse_listen_address


def test_the_observability_settings_are_read_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "WITNESSLINK_METRICS_LISTEN": "127.0.0.1:9464",
            "WITNESSLINK_LOG_FORMAT": "JSON",
            "WITNESSLINK_SMS_FAILING_AFTER": "3",
        }
    )
    assert (settings.metrics_listen, settings.log_format, settings.sms_failing_after) == (
        "127.0.0.1:9464",
        "json",
        3,
    )
    defaults = Settings.from_env({})
    assert (defaults.metrics_listen, defaults.log_format, defaults.sms_failing_after) == (
        None,
        "auto",
        5,
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [("127.0.0.1:9464", ("127.0.0.1", 9464)), ("[::1]:9464", ("::1", 9464))],
)
def test_listen_addresses_are_host_and_port(value: str, expected: tuple[str, int]) -> None:
    assert parse_listen_address(value) == expected


@pytest.mark.parametrize("value", ["9464", "127.0.0.1", ":9464", "host:0", "host:70000", "h:x"])
def test_a_malformed_metrics_address_stops_the_server_at_start(value: str) -> None:
    with pytest.raises(ValueError, match="host:port"):
        Settings.from_env({"WITNESSLINK_METRICS_LISTEN": value})


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("WITNESSLINK_LOG_FORMAT", "xml", "log format must be one of auto, json, text"),
        ("WITNESSLINK_SMS_FAILING_AFTER", "0", "at least 1"),
    ],
)
def test_other_bad_values_stop_the_server_at_start(variable: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings.from_env({variable: value})


def test_metrics_cannot_share_the_public_listener() -> None:
    with pytest.raises(ValueError, match="another address"):
        Settings.from_env({"WITNESSLINK_METRICS_LISTEN": "127.0.0.1:8080"})
