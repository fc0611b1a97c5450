"""A tour of the witnesslink SDK against a real server, end to end.

Starts ``witnesslink serve`` on a free port with a throw-away data folder, creates two
agencies and two staff members with the admin command, then:

1. the officer and a support worker log in (each new staff client registers its own
   device and keys, and makes its person's identity key and recovery key), and compare
   safety numbers, as colleagues would in the office or by call,
2. the officer opens a case with a support organisation, assigns the support worker
   and vouches for them in the case's signed roster,
3. adds the witness (alias only) and makes the enrolment code and QR code,
4. the witness's phone enrols with the code (keys and identity made on the phone, the
   team roster checked against the officer's MAC, its PIN and duress PIN set with the
   server's help), and the officer and the witness compare the numbers both screens
   show,
5. the witness and the team exchange end-to-end encrypted messages,
6. the officer sets a check-in plan (the phone is prompted at each due time),
7. the phone is locked and opened again with its PIN (and the server's help).

Every store uses the real key-derivation cost (Argon2id, 256 MiB): each unlock takes a
moment, as it does on a phone.

Run it from the repository root:  .venv/bin/python examples/tour.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from client_sdk import IncomingMessage, StaffClient, WitnessClient
from tests.support.processes import PASSWORD, admin, free_port, seed, server_process


async def tour(url: str, data: Path, support_agency_id: str) -> None:
    # 1. The officer logs in from a new client (its store opens with a passphrase of at
    #    least twelve characters).
    officer = await StaffClient.login(
        url, "officer", PASSWORD, data / "officer.store", "officer's long passphrase"
    )
    worker = await StaffClient.login(
        url, "worker", PASSWORD, data / "worker.store", "worker's long passphrase"
    )
    print("officer's recovery key (shown once, keep it safe):", officer.recovery_key)
    #    The two compare safety numbers (read aloud in person, or by call).
    number_at_officer = await officer.colleague_safety_number(worker.staff_id)
    await worker.verify_colleague(officer.staff_id, number_at_officer)
    await officer.verify_colleague(
        worker.staff_id, await worker.colleague_safety_number(officer.staff_id)
    )
    # 2. A case joins the officer's police agency and the home-country support agency;
    #    assigning the (verified) worker puts them in the case's signed roster.
    case = await officer.create_case("DE-2026-0042", support_agency_id)
    await officer.assign(case["case_id"], worker.staff_id)
    # 3. The witness: an alias, a language and a timezone — never a real name.
    enrolment = await officer.add_witness(
        case["case_id"], alias="Sparrow", language="ro", timezone="Europe/Bucharest"
    )
    print("enrolment code to type in:", enrolment.code)
    enrolment.save_qr_png(data / "enrolment.png")
    # 4. The phone enrols, in person, with the code (or the QR payload). The PIN has six
    #    digits or more and no pattern; the duress PIN opens the very same app while the
    #    team is alerted. Neither can be tried without the server. Then both screens show
    #    the same numbers, and the officer and the witness confirm.
    pending = await WitnessClient.enroll(
        url, enrolment.qr_payload, data / "phone.store", "284619", duress_pin="719305"
    )
    enroling = await officer.phone_for(enrolment)
    assert enroling is not None
    print("officer's screen:", enroling.sas, "- phone's screen:", await pending.sas())
    await officer.confirm_phone(enroling)
    phone = await pending.confirm()
    # 5. Messages, end to end encrypted to every device of every member.
    sent = await phone.send("I arrived home safely.")
    print("phone sent to", len(sent.recipients), "devices:", sent.status)
    await worker.sync()
    for event in worker.pending_events():
        if isinstance(event, IncomingMessage):
            print("support worker received:", event.text)
    await worker.send("We will visit on Thursday.", case_id=case["case_id"])
    await phone.sync()
    print("phone history:", [m.text for m in await phone.messages()])
    # 6. A check-in plan in the witness's timezone. At each due time the phone gets a
    #    prompt (an event from ``async for event in phone`` once ``phone.start()`` runs)
    #    and answers with ``await phone.check_in("ok")`` — or "contact" / "help".
    plan = await officer.set_checkin_plan(
        enrolment.witness_id, weekdays=["mon", "thu"], times=["10:00"]
    )
    print("check-in plan:", plan["description"], "- first due", plan["current"]["due_at"])
    # 7. Locked, the store is unreadable; the PIN opens it again (Argon2id, then one
    #    evaluation by the server, then a confirmation).
    await phone.close()
    phone = await WitnessClient.open(data / "phone.store", "284619")
    print("reopened with the PIN:", len(await phone.messages()), "messages")
    for client in (officer, worker, phone):
        await client.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        support_agency_id = seed(data / "server")
        admin(
            data / "server",
            "create-staff",
            "--agency",
            "Bench Support",
            "--username",
            "worker",
            "--display-name",
            "Support Worker",
            "--role",
            "support_worker",
            "--password-stdin",
            stdin=PASSWORD + "\n",
        )
        port = free_port()
        with server_process(data / "server", port):
            asyncio.run(tour(f"http://127.0.0.1:{port}", data, support_agency_id))


if __name__ == "__main__":
    main()
