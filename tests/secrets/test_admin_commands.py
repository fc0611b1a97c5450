"""The operator's side of rotation: ``witnesslink admin new-key`` and ``reseal``, and
one clear line (never a traceback, never a key) when the key configuration is wrong."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path


def admin(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("WITNESSLINK_")}
    return subprocess.run(
        [sys.executable, "-m", "server", "admin", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        check=False,
        env=base | env,
    )


def test_rotating_from_the_key_file_to_a_new_key_with_the_admin_commands(tmp_path: Path) -> None:
    made = admin(tmp_path, "new-key")
    assert made.returncode == 0
    new_key = made.stdout.strip()
    assert len(base64.b64decode(new_key)) == 32
    assert admin(tmp_path, "new-key").stdout.strip() != new_key

    # A first run on the key file: nothing is under an old key.
    fresh = admin(tmp_path, "reseal")
    assert fresh.returncode == 0, fresh.stderr
    assert "no value remains under an old key" in fresh.stdout

    # The new key becomes current; the file's key is now a previous one.
    pending = admin(tmp_path, "reseal", "--report-only", WITNESSLINK_SECRET_KEY=new_key)
    assert pending.returncode == 3
    assert "server_secrets.value_sealed: 1 value(s) still under an old key" in pending.stdout
    done = admin(tmp_path, "reseal", WITNESSLINK_SECRET_KEY=new_key)
    assert done.returncode == 0
    assert "re-sealed 1 value(s)" in done.stdout

    (tmp_path / "server.key").unlink()
    after = admin(tmp_path, "verify-audit", WITNESSLINK_SECRET_KEY=new_key)
    assert after.returncode == 0, after.stderr


def test_a_missing_or_malformed_key_is_one_clear_line(tmp_path: Path) -> None:
    assert admin(tmp_path, "verify-audit").returncode == 0  # records the index root
    (tmp_path / "server.key").unlink()
    other = base64.b64encode(os.urandom(32)).decode()
    missing = admin(tmp_path, "verify-audit", WITNESSLINK_SECRET_KEY=other)
    assert missing.returncode == 1
    assert "not in the key ring" in missing.stderr
    assert "Traceback" not in missing.stderr
    assert other not in missing.stderr + missing.stdout

    placeholder = "CHANGE_ME_generate_32_random_bytes_base64"
    malformed = admin(tmp_path, "verify-audit", WITNESSLINK_SECRET_KEY=placeholder)
    assert malformed.returncode == 1
    assert "WITNESSLINK_SECRET_KEY must be 32 bytes" in malformed.stderr
    assert "Traceback" not in malformed.stderr
