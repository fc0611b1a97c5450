"""The platform operator's command line: an agency and its first admin in one step
(both or neither), and the review of cross-agency administration. The real
``witnesslink admin`` in its own process, on its own data folder."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.processes import PASSWORD, admin


def test_create_agency_with_its_first_admin_in_one_step(tmp_path: Path) -> None:
    out = admin(
        tmp_path,
        "create-agency",
        "--name",
        "Polizei Neustadt",
        "--country",
        "de",
        "--kind",
        "police",
        "--first-admin",
        "neustadt-admin",
        "--first-admin-name",
        "Nora Admin",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert "created agency agn_" in out
    assert "(admin)" in out
    staff = admin(tmp_path, "list-staff", "--agency", "Polizei Neustadt")
    assert staff.split("\t")[1:] == ["admin", "neustadt-admin\n"]
    review = admin(tmp_path, "review-agencies")
    assert "0 cross-agency administration actions, 0 agencies without an admin" in review

    # A bad first admin: neither the agency nor the account is made.
    with pytest.raises(subprocess.CalledProcessError) as failed:
        admin(
            tmp_path,
            "create-agency",
            "--name",
            "Half Made",
            "--country",
            "DE",
            "--kind",
            "police",
            "--first-admin",
            "neustadt-admin",
            "--password-stdin",
            stdin=PASSWORD + "\n",
        )
    assert "already" in failed.value.stderr.lower() or "taken" in failed.value.stderr.lower()
    assert "Half Made" not in admin(tmp_path, "list-agencies")


def test_the_review_names_an_agency_left_without_an_admin(tmp_path: Path) -> None:
    admin(tmp_path, "create-agency", "--name", "Orphan", "--country", "RO", "--kind", "support")
    with pytest.raises(subprocess.CalledProcessError) as flagged:
        admin(tmp_path, "review-agencies")
    assert flagged.value.returncode == 4
    assert "has no active admin of its own" in flagged.value.stdout
