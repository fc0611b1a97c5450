"""The packages' import boundaries: the server never loads the phone's SDK (nor
vodozemac with it), and the protocol package imports neither side.

Each check runs in a fresh interpreter, so that what the test process has already
imported cannot hide a dependency.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def _modules_loaded_by(*imports: str) -> list[str]:
    code = (
        "import json, sys\n"
        + "".join(f"import {name}\n" for name in imports)
        + "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    loaded: list[str] = json.loads(out)
    return loaded


def _under(modules: list[str], *packages: str) -> list[str]:
    return [m for m in modules if m.split(".")[0] in packages]


def test_importing_the_server_and_scheduler_loads_no_module_of_the_client_sdk() -> None:
    loaded = _modules_loaded_by(
        "server.app", "server.cli", "server.console.web", "scheduler.runner"
    )
    assert _under(loaded, "client_sdk", "vodozemac") == []
    assert "wire.keys" in loaded  # the protocol is what they share


@pytest.mark.parametrize(
    "module", ["wire", "wire.keys", "wire.enrolment", "wire.vault", "wire.i18n.texts"]
)
def test_the_protocol_package_imports_neither_side(module: str) -> None:
    loaded = _modules_loaded_by(module)
    assert _under(loaded, "client_sdk", "server", "scheduler") == []
