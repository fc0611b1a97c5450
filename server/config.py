"""Server settings: defaults that work on a laptop, overridable by environment.

The embedded default keeps everything in one local folder (``./witnesslink-data``): the
SQLite database and the server key. Production sets ``WITNESSLINK_DATABASE_URL`` to a
PostgreSQL DSN and provides the key through ``WITNESSLINK_SECRET_KEY`` so that every
instance shares it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

DEFAULT_DATA_DIR = Path("witnesslink-data")


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


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
    #: PIN evaluations a witness phone may have unconfirmed before its store's OPRF
    #: key is erased for ever (see server.domain.unlock).
    vault_max_unconfirmed: int = 10

    def __post_init__(self) -> None:
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
        if "WITNESSLINK_TRUST_FORWARDED_FOR" in env:
            values["trust_forwarded_for"] = _flag(env["WITNESSLINK_TRUST_FORWARDED_FOR"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_overrides(self, **overrides: Any) -> Settings:
        return replace(self, **overrides)
