"""Server settings: defaults that work on a laptop, overridable by environment.

The embedded default keeps everything in one local folder (``./witnesslink-data``): the
SQLite database and the server key. Production sets ``WITNESSLINK_DATABASE_URL`` to a
PostgreSQL DSN and provides the key through ``WITNESSLINK_SECRET_KEY`` so that every
instance shares it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

DEFAULT_DATA_DIR = Path("witnesslink-data")
LOG_FORMATS = ("auto", "json", "text")
#: Below this Argon2id gives little protection to a stolen password hash (8 MiB).
MIN_PASSWORD_MEMORY_KIB = 8192


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def parse_listen_address(value: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:9464`` for IPv6) as a pair.

    Raises:
        ValueError: not of that shape, or the port is out of range.
    """
    host, separator, port_text = value.strip().rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not separator or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"expected host:port for a listen address, got {value!r}")
    return host, int(port_text)


@dataclass(frozen=True)
class Settings:
    """Everything configurable about a server instance."""

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None
    secret_key_b64: str | None = field(default=None, repr=False)
    message_ttl: timedelta = timedelta(days=30)
    attachment_ttl: timedelta = timedelta(days=30)
    attachment_max_bytes: int = 16 * 1024 * 1024
    json_max_bytes: int = 1024 * 1024
    enrolment_ttl: timedelta = timedelta(hours=24)
    #: After a visit's window ends, how long the visitor has to record it before it is overdue.
    visit_grace: timedelta = timedelta(hours=24)
    trust_forwarded_for: bool = False
    auth_cache_ttl: timedelta = timedelta(seconds=10)
    password_time_cost: int = 3
    password_memory_kib: int = 65536
    run_scheduler: bool = True
    postgres_schema: str | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = field(default=None, repr=False)
    twilio_sender: str | None = None  # a From number (+E.164) or a Messaging Service SID
    twilio_base_url: str | None = None  # only for tests: a Twilio-shaped server
    sweep_interval_s: float = 0.25
    console_live_interval_s: float = 2.0
    console_idle_minutes: int = 15
    # --- on-call screen (issue 13, part "oncall") ---
    #: How long an on-call screen (a console signed in in shift mode) stays signed in.
    console_shift_hours: float = 12.0
    #: PIN evaluations a witness phone may have unconfirmed before its store's OPRF
    #: key is erased for ever (see server.domain.unlock).
    vault_max_unconfirmed: int = 10
    # --- secrets and rotation (issue 12, part "secrets") ---
    #: Keys that sealed values may still be under (base64, newest first); readable,
    #: never used to seal. Drop them once ``witnesslink admin reseal`` reports none left.
    previous_secret_keys_b64: tuple[str, ...] = field(default=(), repr=False)
    #: The Twilio auth token being rotated out: webhooks signed with it are still
    #: accepted; nothing is sent with it.
    twilio_previous_auth_token: str | None = field(default=None, repr=False)
    #: How often the background job re-seals values still under a previous key.
    reseal_interval_s: float = 300.0

    # --- Observability (metrics, logs, SMS health); see docs/configuration.md ---
    #: ``host:port`` of a second, private listener serving ``/metrics``; None = off.
    metrics_listen: str | None = None
    #: ``json``, ``text`` or ``auto`` (JSON unless the log goes to a terminal).
    log_format: str = "auto"
    #: Consecutive failed SMS after which delivery is reported as failing.
    sms_failing_after: int = 5

    # --- Voice calls (issue 13, part "voice"); see docs/configuration.md ---
    #: Place calls at all (escalation levels that ask for a call; voice webhooks).
    voice_enabled: bool = False
    #: The number calls come from (+E.164); None uses the SMS sender if it is a number.
    voice_from: str | None = None
    #: Ask Twilio to tell a person from an answering machine (a machine never counts).
    voice_machine_detection: bool = True
    # --- Review findings (issue 13 item 5); see docs/configuration.md ---
    #: How long inbound Twilio webhooks are remembered by their id, so that a signed
    #: request replayed within this time changes nothing.
    webhook_replay_window: timedelta = timedelta(days=30)
    # --- Handover and risk assessment (issue 11, part "handover") ---
    #: A handover request not accepted this many days before the return raises an alert.
    handover_accept_days: int = 7
    #: A risk assessment review this long past due raises an alert (after the reminder).
    review_grace: timedelta = timedelta(days=3)
    # --- Closing, retention and review of cases (issue 11, part "casework") ---
    #: After closing, how long the witness's phones stay usable at most so the outcome
    #: message can reach them (they are retired as soon as it has).
    closed_phone_grace: timedelta = timedelta(days=7)
    #: How long a closed case's personal data is kept before it is erased.
    retention: timedelta = timedelta(days=730)
    #: How often an open case's need for its personal data is reviewed.
    case_review_interval: timedelta = timedelta(days=182)
    # --- Pacing (issue 14, part "pacing"); see docs/configuration.md ---
    #: SMS per second per sender (each number, short code or Messaging Service SID in
    #: WITNESSLINK_TWILIO_SENDER); 0 = unlimited. 1 matches a Twilio long code.
    sms_per_second: float = 1.0
    #: Calls per second for the account; 0 = unlimited.
    calls_per_second: float = 1.0
    #: Warn (console, metrics) when a critical alert has waited this long unsent.
    critical_wait_warning_s: float = 30.0

    def __post_init__(self) -> None:
        if self.sms_per_second < 0 or self.calls_per_second < 0:
            raise ValueError("sender rates must be 0 (unlimited) or positive")
        if self.log_format not in LOG_FORMATS:
            raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}")
        if self.sms_failing_after < 1:
            raise ValueError("the SMS failure threshold must be at least 1")
        if self.metrics_listen is not None:
            metrics_host, metrics_port = parse_listen_address(self.metrics_listen)
            if (metrics_host, metrics_port) == (self.host, self.port):
                raise ValueError("metrics must listen on another address than the server")
        if not self.database_url:
            object.__setattr__(
                self, "database_url", f"sqlite:///{(self.data_dir / 'witnesslink.db').resolve()}"
            )

    @property
    def secret_key_path(self) -> Path:
        return self.data_dir / "server.key"

    @property
    def twilio_configured(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token and self.twilio_sender)

    @property
    def twilio_senders(self) -> list[str]:
        """Every SMS sender: WITNESSLINK_TWILIO_SENDER is a comma-separated list."""
        if not self.twilio_sender:
            return []
        return [part.strip() for part in self.twilio_sender.split(",") if part.strip()]

    @property
    def uses_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite:")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``WITNESSLINK_*`` variables, then explicit overrides."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        if env.get("WITNESSLINK_DATA_DIR"):
            values["data_dir"] = Path(env["WITNESSLINK_DATA_DIR"])
        if env.get("WITNESSLINK_DATABASE_URL"):
            values["database_url"] = env["WITNESSLINK_DATABASE_URL"]
        if env.get("WITNESSLINK_HOST"):
            values["host"] = env["WITNESSLINK_HOST"]
        if env.get("WITNESSLINK_PORT"):
            values["port"] = int(env["WITNESSLINK_PORT"])
        if env.get("WITNESSLINK_PUBLIC_URL"):
            values["public_url"] = env["WITNESSLINK_PUBLIC_URL"]
        if env.get("WITNESSLINK_SECRET_KEY"):
            values["secret_key_b64"] = env["WITNESSLINK_SECRET_KEY"]
        if env.get("WITNESSLINK_MESSAGE_TTL_DAYS"):
            values["message_ttl"] = timedelta(days=float(env["WITNESSLINK_MESSAGE_TTL_DAYS"]))
        if env.get("WITNESSLINK_ATTACHMENT_MAX_BYTES"):
            values["attachment_max_bytes"] = int(env["WITNESSLINK_ATTACHMENT_MAX_BYTES"])
        if env.get("WITNESSLINK_VAULT_MAX_UNCONFIRMED"):
            values["vault_max_unconfirmed"] = int(env["WITNESSLINK_VAULT_MAX_UNCONFIRMED"])
        for variable, name in (
            ("WITNESSLINK_TWILIO_ACCOUNT_SID", "twilio_account_sid"),
            ("WITNESSLINK_TWILIO_AUTH_TOKEN", "twilio_auth_token"),
            ("WITNESSLINK_TWILIO_SENDER", "twilio_sender"),
            ("WITNESSLINK_TWILIO_BASE_URL", "twilio_base_url"),
        ):
            if env.get(variable):
                values[name] = env[variable]
        values.update(_secrets_and_limits_from_env(env))
        if "WITNESSLINK_TRUST_FORWARDED_FOR" in env:
            values["trust_forwarded_for"] = _flag(env["WITNESSLINK_TRUST_FORWARDED_FOR"])
        # --- Observability ---
        if env.get("WITNESSLINK_METRICS_LISTEN"):
            values["metrics_listen"] = env["WITNESSLINK_METRICS_LISTEN"]
        if env.get("WITNESSLINK_LOG_FORMAT"):
            values["log_format"] = env["WITNESSLINK_LOG_FORMAT"].strip().lower()
        if env.get("WITNESSLINK_SMS_FAILING_AFTER"):
            values["sms_failing_after"] = int(env["WITNESSLINK_SMS_FAILING_AFTER"])
        values.update(_voice_from_env(env))
        values.update(_pacing_from_env(env))
        # --- Review findings (issue 13 item 5) ---
        if env.get("WITNESSLINK_WEBHOOK_REPLAY_DAYS"):
            days = _positive(
                "WITNESSLINK_WEBHOOK_REPLAY_DAYS", env["WITNESSLINK_WEBHOOK_REPLAY_DAYS"], float
            )
            values["webhook_replay_window"] = timedelta(days=days)
        values.update(_handover_from_env(env))
        values.update(_case_lifecycle_from_env(env))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def voice_caller_id(self) -> str | None:
        """The From number for calls: the voice setting, else the SMS sender if it is a
        phone number (a Messaging Service cannot place calls)."""
        if self.voice_from:
            return self.voice_from
        numbers = [s for s in self.twilio_senders if s.startswith("+")]
        return numbers[0] if numbers else None

    @property
    def voice_configured(self) -> bool:
        return self.voice_enabled and self.twilio_configured and self.voice_caller_id is not None

    def with_overrides(self, **overrides: Any) -> Settings:
        return replace(self, **overrides)


def _handover_from_env(env: Mapping[str, str]) -> dict[str, Any]:
    """The handover and review deadlines (issue 11, part "handover")."""
    values: dict[str, Any] = {}
    if env.get("WITNESSLINK_HANDOVER_ACCEPT_DAYS"):
        values["handover_accept_days"] = _positive(
            "WITNESSLINK_HANDOVER_ACCEPT_DAYS", env["WITNESSLINK_HANDOVER_ACCEPT_DAYS"], int
        )
    if env.get("WITNESSLINK_REVIEW_GRACE_DAYS"):
        days = _positive(
            "WITNESSLINK_REVIEW_GRACE_DAYS", env["WITNESSLINK_REVIEW_GRACE_DAYS"], float
        )
        values["review_grace"] = timedelta(days=days)
    return values


def _pacing_from_env(env: Mapping[str, str]) -> dict[str, Any]:
    """Sender limits (issue 14, part "pacing"): 0 means unlimited."""
    values: dict[str, Any] = {}
    for variable, name in (
        ("WITNESSLINK_SMS_PER_SECOND", "sms_per_second"),
        ("WITNESSLINK_CALLS_PER_SECOND", "calls_per_second"),
    ):
        if env.get(variable):
            rate = float(env[variable])
            if rate < 0:
                raise ValueError(f"{variable} must be 0 (unlimited) or positive")
            values[name] = rate
    if env.get("WITNESSLINK_CRITICAL_WAIT_WARNING_S"):
        values["critical_wait_warning_s"] = _positive(
            "WITNESSLINK_CRITICAL_WAIT_WARNING_S", env["WITNESSLINK_CRITICAL_WAIT_WARNING_S"], float
        )
    return values


def _voice_from_env(env: Mapping[str, str]) -> dict[str, Any]:
    """The voice settings (issue 13, part "voice")."""
    values: dict[str, Any] = {}
    if "WITNESSLINK_VOICE_ENABLED" in env:
        values["voice_enabled"] = _flag(env["WITNESSLINK_VOICE_ENABLED"])
    if env.get("WITNESSLINK_VOICE_FROM"):
        values["voice_from"] = env["WITNESSLINK_VOICE_FROM"].strip()
    if "WITNESSLINK_VOICE_MACHINE_DETECTION" in env:
        values["voice_machine_detection"] = _flag(env["WITNESSLINK_VOICE_MACHINE_DETECTION"])
    return values


def _case_lifecycle_from_env(env: Mapping[str, str]) -> dict[str, Any]:
    """Closing, retention and review of cases (issue 11, part "casework").

    Raises:
        ValueError: a number that does not parse, or is not positive.
    """
    values: dict[str, Any] = {}
    for variable, name in (
        ("WITNESSLINK_CLOSED_PHONE_GRACE_DAYS", "closed_phone_grace"),
        ("WITNESSLINK_RETENTION_DAYS", "retention"),
        ("WITNESSLINK_CASE_REVIEW_DAYS", "case_review_interval"),
    ):
        if env.get(variable):
            values[name] = timedelta(days=_positive(variable, env[variable], float))
    return values


def _secrets_and_limits_from_env(env: Mapping[str, str]) -> dict[str, Any]:
    """Key rotation, Twilio token rotation, the PostgreSQL schema (so a server can run
    on a schema restored from a backup), and the limits the issue asked to make
    settable (console idle time, enrolment code lifetime, password-hashing cost).

    Raises:
        ValueError: a number that does not parse, or is not positive.
    """
    values: dict[str, Any] = {}
    if env.get("WITNESSLINK_PREVIOUS_SECRET_KEYS"):
        values["previous_secret_keys_b64"] = tuple(
            part.strip()
            for part in env["WITNESSLINK_PREVIOUS_SECRET_KEYS"].split(",")
            if part.strip()
        )
    if env.get("WITNESSLINK_POSTGRES_SCHEMA"):
        values["postgres_schema"] = env["WITNESSLINK_POSTGRES_SCHEMA"]
    if env.get("WITNESSLINK_TWILIO_PREVIOUS_AUTH_TOKEN"):
        values["twilio_previous_auth_token"] = env["WITNESSLINK_TWILIO_PREVIOUS_AUTH_TOKEN"]
    for variable, name, convert in (
        ("WITNESSLINK_RESEAL_INTERVAL_S", "reseal_interval_s", float),
        ("WITNESSLINK_CONSOLE_IDLE_MINUTES", "console_idle_minutes", int),
        ("WITNESSLINK_CONSOLE_SHIFT_HOURS", "console_shift_hours", float),
        ("WITNESSLINK_PASSWORD_TIME_COST", "password_time_cost", int),
        ("WITNESSLINK_PASSWORD_MEMORY_KIB", "password_memory_kib", int),
    ):
        if env.get(variable):
            values[name] = _positive(variable, env[variable], convert)
    if values.get("password_memory_kib", MIN_PASSWORD_MEMORY_KIB) < MIN_PASSWORD_MEMORY_KIB:
        raise ValueError(
            f"WITNESSLINK_PASSWORD_MEMORY_KIB must be at least {MIN_PASSWORD_MEMORY_KIB}"
        )
    if env.get("WITNESSLINK_ENROLMENT_TTL_HOURS"):
        hours = _positive(
            "WITNESSLINK_ENROLMENT_TTL_HOURS", env["WITNESSLINK_ENROLMENT_TTL_HOURS"], float
        )
        values["enrolment_ttl"] = timedelta(hours=hours)
    if env.get("WITNESSLINK_VISIT_GRACE_HOURS"):
        hours = _positive(
            "WITNESSLINK_VISIT_GRACE_HOURS", env["WITNESSLINK_VISIT_GRACE_HOURS"], float
        )
        values["visit_grace"] = timedelta(hours=hours)
    return values


def _positive(variable: str, text: str, convert: Callable[[str], float]) -> Any:
    try:
        value = convert(text)
    except ValueError:
        raise ValueError(f"{variable} must be a number") from None
    if value <= 0:
        raise ValueError(f"{variable} must be positive")
    return value
