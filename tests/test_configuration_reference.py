"""docs/configuration.md names exactly the settings the code reads.

A setting is *read* where its full name is a string literal in the code of ``server/``
or ``scheduler/`` (``env["WITNESSLINK_PORT"]``, a table of names in ``from_env``, an
``os.environ.get``); the source is parsed, so a name merely mentioned inside a message
does not count as read — but every name mentioned anywhere must still be documented,
so no error message sends an operator to an undocumented variable.
"""

from __future__ import annotations

import ast
import re
from datetime import timedelta
from pathlib import Path

import pytest

from server.config import Settings

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "configuration.md"
_NAME = re.compile(r"WITNESSLINK_[A-Z0-9_]*[A-Z0-9]")
_ROW = re.compile(r"^\|\s*`(WITNESSLINK_[A-Z0-9_]+)`\s*\|(.*)\|\s*$")


def code_files() -> list[Path]:
    return sorted(p for d in ("server", "scheduler") for p in (ROOT / d).rglob("*.py"))


def settings_read_by_code() -> set[str]:
    read = set()
    for path in code_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and _NAME.fullmatch(node.value)
            ):
                read.add(node.value)
    return read


def settings_mentioned_by_code() -> dict[str, set[str]]:
    mentioned: dict[str, set[str]] = {}
    for path in code_files():
        for name in _NAME.findall(path.read_text()):
            mentioned.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return mentioned


def reference_rows() -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    for line in REFERENCE.read_text().splitlines():
        match = _ROW.match(line)
        if match:
            assert match[1] not in rows, f"{match[1]} has two rows"
            rows[match[1]] = [cell.strip() for cell in match[2].split("|")]
    return rows


def test_every_setting_the_code_reads_is_in_the_reference() -> None:
    missing = settings_read_by_code() - set(reference_rows())
    assert not missing, f"add to docs/configuration.md: {sorted(missing)}"


def test_the_reference_names_no_setting_the_code_does_not_read() -> None:
    stale = set(reference_rows()) - settings_read_by_code()
    assert not stale, f"docs/configuration.md names settings nothing reads: {sorted(stale)}"


def test_no_message_in_the_code_names_an_undocumented_setting() -> None:
    undocumented = {
        name: files
        for name, files in settings_mentioned_by_code().items()
        if name not in reference_rows()
    }
    assert not undocumented, undocumented


def test_every_row_gives_a_default_and_a_meaning() -> None:
    for name, cells in reference_rows().items():
        assert len(cells) == 2, f"{name}: expected variable | default | meaning"
        assert all(cells), f"{name}: empty default or meaning"


def test_the_check_sees_the_settings_it_must() -> None:
    """Guards the guard: a parser that found nothing would pass the tests above."""
    read = settings_read_by_code()
    assert {"WITNESSLINK_SECRET_KEY", "WITNESSLINK_TEST_CLOCK_FILE"} <= read
    assert len(reference_rows()) >= 20


def test_console_idle_time_enrolment_lifetime_and_password_cost_can_be_set() -> None:
    settings = Settings.from_env(
        {
            "WITNESSLINK_CONSOLE_IDLE_MINUTES": "5",
            "WITNESSLINK_ENROLMENT_TTL_HOURS": "0.5",
            "WITNESSLINK_PASSWORD_TIME_COST": "4",
            "WITNESSLINK_PASSWORD_MEMORY_KIB": "131072",
        }
    )
    assert settings.console_idle_minutes == 5
    assert settings.enrolment_ttl == timedelta(minutes=30)
    assert (settings.password_time_cost, settings.password_memory_kib) == (4, 131072)
    defaults = Settings.from_env({})
    assert (defaults.console_idle_minutes, defaults.enrolment_ttl) == (15, timedelta(hours=24))


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("WITNESSLINK_CONSOLE_IDLE_MINUTES", "0", "must be positive"),
        ("WITNESSLINK_ENROLMENT_TTL_HOURS", "soon", "must be a number"),
        ("WITNESSLINK_PASSWORD_TIME_COST", "-1", "must be positive"),
        ("WITNESSLINK_PASSWORD_MEMORY_KIB", "1024", "must be at least 8192"),
    ],
)
def test_a_bad_limit_is_refused_naming_the_variable(
    variable: str, value: str, message: str
) -> None:
    with pytest.raises(ValueError, match=f"{variable} {message}"):
        Settings.from_env({variable: value})
