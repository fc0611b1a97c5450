"""What ``witnesslink serve`` warns about at start: production settings left unset.

A laptop default is right for trying it out and wrong for a witness's safety in
production, and nothing fails loudly when, say, Twilio is missing: alert SMS then only
reach the log. So each gap is named in one line at start-up, with what follows from it.
"""

from __future__ import annotations

import ipaddress

from server.config import Settings

_LOOPBACK_NAMES = frozenset({"localhost"})


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def production_warnings(settings: Settings, *, secret_key_from_file: bool) -> list[str]:
    """One line per missing or risky production setting (empty when none).

    ``secret_key_from_file`` says whether the server key comes from the data folder
    (``WITNESSLINK_SECRET_KEY`` unset) rather than the environment.
    """
    warnings: list[str] = []
    if not settings.twilio_configured:
        warnings.append(
            "Twilio is not configured (WITNESSLINK_TWILIO_ACCOUNT_SID, _AUTH_TOKEN, _SENDER): "
            "alert and check-in SMS are only written to the log, nobody receives them"
        )
    if not settings.public_url:
        warnings.append(
            "WITNESSLINK_PUBLIC_URL is not set: enrolment QR codes carry no server address, "
            "alert SMS carry no link to the alert, "
            "and Twilio status callbacks cannot reach this server"
        )
    elif not settings.public_url.startswith("https://"):
        warnings.append(
            "WITNESSLINK_PUBLIC_URL is not https: phones would talk to the server unencrypted"
        )
    if settings.uses_sqlite:
        warnings.append(
            "SQLite is in use: fine for one machine; several instances need "
            "WITNESSLINK_DATABASE_URL=postgresql://…"
        )
    if secret_key_from_file:
        warnings.append(
            f"the server key is read from {settings.secret_key_path}, not "
            "WITNESSLINK_SECRET_KEY: every instance needs the same key, and the key sits "
            "beside the data it protects"
        )
    if settings.metrics_listen is None:
        warnings.append(
            "metrics are off (WITNESSLINK_METRICS_LISTEN unset): nothing alerts an operator "
            "when sweeps stall or SMS delivery fails"
        )
    if settings.trust_forwarded_for and not is_loopback(settings.host):
        warnings.append(
            "WITNESSLINK_TRUST_FORWARDED_FOR is on while listening on a non-loopback address: "
            "clients reaching the server directly can forge X-Forwarded-For and slip past "
            "rate limits; listen on 127.0.0.1 behind the proxy"
        )
    if settings.public_url and not settings.trust_forwarded_for and is_loopback(settings.host):
        warnings.append(
            "WITNESSLINK_TRUST_FORWARDED_FOR is off while listening on loopback behind a "
            "proxy: every client shares the proxy's address, so one client's failed logins "
            "lock out everyone"
        )
    if not settings.run_scheduler:
        warnings.append(
            "this instance does not run the scheduler: make sure another instance does, or "
            "no check-in, escalation or SMS will ever fire"
        )
    return warnings
