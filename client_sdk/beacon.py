"""The wipe beacon: how a phone that destroyed its store can still say so.

After too many wrong PINs the encrypted store is wiped, and with it the device
credential. So at enrolment the server also issues a beacon token that can do exactly
one thing — report "this phone's store was wiped" — and the SDK keeps it in a small
file beside the store, outside the encryption. Someone who finds it learns the server's
address and can raise that one alert; nothing else. It is deleted once the report has
been delivered, and whenever the witness wipes the phone on purpose.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path

from client_sdk.errors import ApiError, TransportError
from client_sdk.transport import Transport


def beacon_path(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + ".beacon")


def write_beacon(store_path: Path, server_url: str, token: str) -> None:
    path = beacon_path(store_path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"server_url": server_url, "token": token}, handle)


def forget_beacon(store_path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        beacon_path(store_path).unlink()


async def report_wipe(store_path: Path) -> bool:
    """Tell the server this phone's store was wiped; True once it has heard.

    Safe to call again (e.g. at every app start) until it returns True: the beacon file
    stays until the report is delivered.
    """
    path = beacon_path(store_path)
    try:
        data = json.loads(await asyncio.to_thread(path.read_text))
    except (FileNotFoundError, ValueError):
        return False
    transport = Transport(str(data["server_url"]))
    try:
        await transport.request("POST", "/v1/beacon/wiped", json={"token": data["token"]})
    except TransportError:
        return False
    except ApiError as error:
        if error.status >= 500:
            return False
        # 404: already reported (or revoked): nothing more to say.
    finally:
        await transport.close()
    forget_beacon(store_path)
    return True
