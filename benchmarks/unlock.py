"""Unlocking a witness phone's store with the default cost, split into its steps.

The server runs in its own process (``witnesslink serve`` on SQLite), reached over real
HTTP on 127.0.0.1. A phone is enrolled with the SDK's default Argon2id cost
(:data:`client_sdk.vault.DEFAULT_KDF`), then unlocked ``--runs`` times, each split into

* ``derive``: Argon2id of the PIN (the slow, memory-hard step, on a worker thread),
* ``oprf``: the evaluation round trip (blind, evaluate, verify the proof, finalize), the
  slot trial and the confirmation round trip,
* ``open``: opening the SQLite store and loading the device's keys.

It also times what one PIN guess costs an attacker who holds the server's database
*and* the phone's files (one Argon2id derivation plus one local OPRF evaluation, one
core), and what it takes for every six-digit PIN. Prints one JSON line.

    python benchmarks/unlock.py --runs 5

The server allows 5 evaluations per device at once (one more every 30 s), hence at most
5 runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import nacl.pwhash.argon2id
from voprf import ristretto

from client_sdk import StaffClient, WitnessClient
from client_sdk import _vault_format as fmt
from client_sdk.setup import load_device
from client_sdk.unlock import UnlockServer, derive_keys, stretch
from client_sdk.vault import DEFAULT_KDF, Vault
from tests.support.processes import PASSWORD, free_port, seed, server_process
from tests.support.world import finish_in_person

PIN = "284619"


async def enrol(url: str, tmp: Path, support_id: str) -> Path:
    officer = await StaffClient.login(
        url, "officer", PASSWORD, tmp / "officer.store", "officer's long passphrase"
    )
    case = await officer.create_case("BENCH-UNLOCK", support_id)
    enrolment = await officer.add_witness(
        case["case_id"], alias="Bench", language="en", timezone="Europe/Berlin"
    )
    store = tmp / "witness.store"
    pending = await WitnessClient.enroll(url, enrolment.code, store, PIN, duress_pin="719305")
    phone = await finish_in_person(officer, enrolment, pending)
    await phone.close()
    await officer.close()
    return store


async def unlock_once(store: Path) -> dict[str, float]:
    header = await Vault.read_header(store)
    started = time.perf_counter()
    stretched = await stretch(PIN, header)
    derived = time.perf_counter()
    assert header.locator is not None
    server = UnlockServer(header.locator)
    try:
        evaluation = await server.evaluate(stretched)
        keys = derive_keys(stretched, evaluation.output)
        found = fmt.open_slots(keys.slot_key, header.slots)
        assert found is not None, "the PIN did not open the store"
        await server.confirm(keys, evaluation.attempt_id, evaluation.challenge)
    finally:
        await server.close()
    confirmed = time.perf_counter()
    vault = await Vault.open_with_data_key(store, found[1])
    await load_device(vault)
    opened = time.perf_counter()
    await vault.close()
    return {
        "derive": derived - started,
        "oprf": confirmed - derived,
        "open": opened - confirmed,
        "total": opened - started,
    }


def attacker_guess_s(rounds: int = 3) -> float:
    """One guess for someone with the server's OPRF key and the files: Argon2id at the
    default cost, then a local evaluation (one core)."""
    evaluator = ristretto.Evaluator.from_seed(bytes(32), b"bench")
    salt = bytes(nacl.pwhash.argon2id.SALTBYTES)
    times = []
    for n in range(rounds):
        started = time.perf_counter()
        stretched = nacl.pwhash.argon2id.kdf(
            32,
            f"{n:06d}".encode(),
            salt,
            opslimit=DEFAULT_KDF.opslimit,
            memlimit=DEFAULT_KDF.memlimit,
        )
        evaluator.evaluate_known_input(stretched)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def run(url: str, tmp: Path, support_id: str, runs: int) -> dict[str, object]:
    store = await enrol(url, tmp, support_id)
    samples = [await unlock_once(store) for _ in range(runs)]
    guess = attacker_guess_s()
    ms = {k: round(1000 * statistics.median(s[k] for s in samples), 1) for k in samples[0]}
    return {
        "benchmark": "unlock",
        "runs": runs,
        "argon2id_memlimit_mib": DEFAULT_KDF.memlimit // (1024 * 1024),
        "argon2id_opslimit": DEFAULT_KDF.opslimit,
        "derive_ms_p50": ms["derive"],
        "oprf_round_trip_and_confirm_ms_p50": ms["oprf"],
        "open_store_ms_p50": ms["open"],
        "unlock_total_ms_p50": ms["total"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "attacker_with_server_db_per_guess_ms": round(1000 * guess, 1),
        "attacker_all_6_digit_pins_core_days": round(1e6 * guess / 86400, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, choices=range(1, 6))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        support_id = seed(data / "server")
        port = free_port()
        with server_process(data / "server", port):
            result = asyncio.run(run(f"http://127.0.0.1:{port}", data, support_id, args.runs))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
