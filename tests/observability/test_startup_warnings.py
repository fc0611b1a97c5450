"""``serve`` names every production setting left at its laptop default, one line each,
and is silent about the ones that are set."""

from __future__ import annotations

from pathlib import Path

from server.config import Settings
from server.observability.startup_warnings import is_loopback, production_warnings


def configured(tmp_path: Path) -> Settings:
    """Settings as a production deployment behind a reverse proxy has them."""
    return Settings(
        data_dir=tmp_path,
        database_url="postgresql://witnesslink@db/witnesslink",
        host="127.0.0.1",
        public_url="https://witnesslink.example.org",
        twilio_account_sid="AC" + "0" * 32,
        twilio_auth_token="token",
        twilio_sender="+15005550006",
        metrics_listen="127.0.0.1:9464",
        trust_forwarded_for=True,
    )


def topics(warnings: list[str]) -> list[str]:
    return [w.split(":")[0] for w in warnings]


def test_a_production_configuration_draws_no_warning(tmp_path: Path) -> None:
    assert production_warnings(configured(tmp_path), secret_key_from_file=False) == []


def test_the_laptop_defaults_draw_one_line_per_missing_setting(tmp_path: Path) -> None:
    warnings = production_warnings(Settings(data_dir=tmp_path), secret_key_from_file=True)
    assert topics(warnings) == [
        "Twilio is not configured (WITNESSLINK_TWILIO_ACCOUNT_SID, _AUTH_TOKEN, _SENDER)",
        "WITNESSLINK_PUBLIC_URL is not set",
        "SQLite is in use",
        f"the server key is read from {tmp_path / 'server.key'}, not WITNESSLINK_SECRET_KEY",
        "metrics are off (WITNESSLINK_METRICS_LISTEN unset)",
    ]
    assert all("\n" not in w for w in warnings)


def test_each_gap_in_a_production_configuration_is_named(tmp_path: Path) -> None:
    base = configured(tmp_path)
    cases = {
        "Twilio is not configured": base.with_overrides(twilio_auth_token=None),
        "WITNESSLINK_PUBLIC_URL is not set": base.with_overrides(public_url=None),
        "WITNESSLINK_PUBLIC_URL is not https": base.with_overrides(
            public_url="http://witnesslink.example.org"
        ),
        "SQLite is in use": base.with_overrides(database_url="sqlite:///w.db"),
        "metrics are off": base.with_overrides(metrics_listen=None),
        "WITNESSLINK_TRUST_FORWARDED_FOR is on while listening on a non-loopback address": (
            base.with_overrides(host="0.0.0.0")  # noqa: S104
        ),
        "WITNESSLINK_TRUST_FORWARDED_FOR is off while listening on loopback behind a proxy": (
            base.with_overrides(trust_forwarded_for=False)
        ),
        "this instance does not run the scheduler": base.with_overrides(run_scheduler=False),
    }
    for expected, settings in cases.items():
        warnings = production_warnings(settings, secret_key_from_file=False)
        assert len(warnings) == 1, (expected, warnings)
        assert warnings[0].startswith(expected)
    key_warning = production_warnings(base, secret_key_from_file=True)
    assert topics(key_warning) == [
        f"the server key is read from {tmp_path / 'server.key'}, not WITNESSLINK_SECRET_KEY"
    ]


def test_loopback_means_this_machine_only() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.0.0.53", "::1", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.5", "example.org"))  # noqa: S104
