"""The API contract: one declarative entry per HTTP operation of the server.

Read with ``server.api.contract`` (what an entry declares). Add an entry here with
every new route: ``tests/contract`` fails on a route the application registers without
one, and the OpenAPI document (``server.api.openapi``) is generated from this table.
"""

from __future__ import annotations

from server.api import models as m
from server.api import responses as r
from server.api import vault_models as v
from server.api.contract import Auth, Operation, Query, Reply, created, ok

TRUE_OR_FALSE = {"type": "string", "enum": ["true", "false"]}
LIMITED = frozenset({429})
#: The vault's server half was erased (ten wrong PINs, a duress wipe, or the owner).
ERASED = frozenset({410})
_GET, _POST, _PUT, _DELETE = "GET", "POST", "PUT", "DELETE"
_FORM_FIELD = {"type": "string", "maxLength": 1600}
#: What Twilio posts for an inbound SMS (more fields may follow; all are signed).
_TWILIO_SMS = {
    "type": "object",
    "properties": {name: _FORM_FIELD for name in ("MessageSid", "From", "To", "Body")},
    "required": ["MessageSid", "From", "To"],
    "additionalProperties": {"type": "string"},
}
#: What Twilio posts when a message's delivery status changes.
_TWILIO_VOICE = {
    "type": "object",
    "properties": {
        "CallSid": _FORM_FIELD,
        "CallStatus": _FORM_FIELD,
        "AnsweredBy": _FORM_FIELD,
        "Digits": _FORM_FIELD,
    },
    "required": ["CallSid"],
    "additionalProperties": {"type": "string"},
}
_TWILIO_STATUS = {
    "type": "object",
    "properties": {
        "MessageSid": _FORM_FIELD,
        "MessageStatus": {
            "type": "string",
            "enum": ["queued", "sent", "delivered", "undelivered", "failed"],
        },
        "ErrorCode": _FORM_FIELD,
    },
    "required": ["MessageSid", "MessageStatus"],
    "additionalProperties": {"type": "string"},
}

OPERATIONS: tuple[Operation, ...] = (
    # ---------------------------------------------------------------- service
    Operation(
        _GET,
        "/healthz",
        "Health: the database answers and every background sweep runs",
        Auth.NONE,
        {200: Reply("Healthy", r.HealthOut), 503: Reply("A sweep has fallen silent", r.HealthOut)},
    ),
    Operation(_GET, "/livez", "Liveness: the process answers", Auth.NONE, ok(r.LiveOut, "Alive")),
    Operation(
        _GET,
        "/readyz",
        "Readiness: ready to serve traffic",
        Auth.NONE,
        {
            200: Reply("Ready", r.ReadyOut),
            503: Reply(
                "Not ready: a problem whose ``checks`` names what failed",
                r.Problem,
                media="application/problem+json",
            ),
        },
    ),
    Operation(
        _GET,
        "/",
        "The staff console's front door",
        Auth.NONE,
        {
            303: Reply("Redirect to /console/", media=None),
        },
    ),
    Operation(
        _GET,
        "/openapi.json",
        "This OpenAPI 3.1 document",
        Auth.NONE,
        {200: Reply("The document", schema={"type": "object"})},
    ),
    # ---------------------------------------------------------------- accounts
    Operation(
        _POST,
        "/v1/auth/login",
        "Staff login from a new client device",
        Auth.NONE,
        created(r.LoginOut, "Logged in; the token is the device credential"),
        body=m.LoginIn,
        problems=frozenset({401, 403, 409, 429}),
    ),
    Operation(_GET, "/v1/me", "The caller, its device and owner", Auth.DEVICE, ok(r.MeOut)),
    Operation(_GET, "/v1/devices", "The caller's own devices", Auth.DEVICE, ok(r.DevicesOut)),
    Operation(
        _POST,
        "/v1/devices/{device_id}/revoke",
        "Revoke one of the caller's devices",
        Auth.DEVICE,
        ok(r.OneDeviceOut),
    ),
    # ---------------------------------------------------------------- cases
    Operation(_GET, "/v1/cases", "Cases of the caller's agency", Auth.STAFF, ok(r.CasesOut)),
    Operation(
        _POST, "/v1/cases", "Open a case", Auth.STAFF, created(r.CaseOut), body=m.CreateCaseIn
    ),
    Operation(
        _GET,
        "/v1/cases/{case_id}",
        "A case with its team and devices (a consultation, audited)",
        Auth.STAFF,
        ok(r.CaseDetailOut),
        headers=(
            Query(
                "X-Witnesslink-Reason",
                "Why the case is consulted (required by some agencies)",
                {"type": "string", "maxLength": 500},
            ),
        ),
        problems=frozenset({428}),
    ),
    Operation(
        _POST,
        "/v1/cases/{case_id}/staff",
        "Assign a staff member to the case",
        Auth.STAFF,
        {201: Reply("Added", r.AddedOut), 200: Reply("Already assigned", r.AddedOut)},
        body=m.AssignStaffIn,
    ),
    Operation(
        _DELETE,
        "/v1/cases/{case_id}/staff/{staff_id}",
        "Remove a staff member from the case",
        Auth.STAFF,
        ok(r.RemovedOut),
    ),
    Operation(
        _POST,
        "/v1/cases/{case_id}/witness",
        "Add the case's witness (alias only)",
        Auth.STAFF,
        created(r.WitnessOut),
        body=m.AddWitnessIn,
    ),
    Operation(
        _POST,
        "/v1/cases/{case_id}/close",
        "Close the case with an outcome category (the witness is told by a staff client)",
        Auth.STAFF,
        ok(r.ClosedCaseOut),
        body=m.CloseCaseIn,
    ),
    Operation(
        _POST,
        "/v1/cases/{case_id}/review",
        "Record the periodic review of an open case: its data is still needed",
        Auth.STAFF,
        ok(r.CaseReviewedOut),
    ),
    # ---------------------------------------------------------------- keys and identities
    Operation(
        _GET,
        "/v1/cases/{case_id}/devices",
        "Devices of the case's members",
        Auth.DEVICE,
        ok(r.DevicesOut),
    ),
    Operation(
        _POST,
        "/v1/keys",
        "Upload one-time and fallback keys",
        Auth.DEVICE,
        ok(r.KeyCountOut),
        body=m.KeysIn,
    ),
    Operation(
        _GET, "/v1/keys/count", "How many one-time keys are left", Auth.DEVICE, ok(r.KeyCountOut)
    ),
    Operation(
        _POST,
        "/v1/keys/claim",
        "Claim one key per device to start sessions",
        Auth.DEVICE,
        ok(r.ClaimsOut),
        body=m.ClaimIn,
        problems=LIMITED,
    ),
    Operation(
        _PUT,
        "/v1/me/device-keys",
        "Publish the signed device object",
        Auth.DEVICE,
        ok(r.Ok),
        body=m.DeviceKeysIn,
    ),
    Operation(
        _PUT,
        "/v1/me/identity",
        "Publish the signed device list",
        Auth.DEVICE,
        ok(r.VersionOut),
        body=m.IdentityIn,
    ),
    Operation(
        _GET, "/v1/me/identity", "The caller's device list", Auth.DEVICE, ok(r.DeviceListOut)
    ),
    Operation(
        _PUT,
        "/v1/me/identity-backup",
        "Store the sealed identity backup",
        Auth.DEVICE,
        ok(r.Ok),
        body=m.IdentityBackupIn,
    ),
    Operation(
        _GET,
        "/v1/me/identity-backup",
        "The sealed identity backup",
        Auth.DEVICE,
        ok(r.IdentityBackupOut),
    ),
    Operation(
        _GET,
        "/v1/staff/{staff_id}/identity",
        "A colleague's device list",
        Auth.DEVICE,
        ok(r.DeviceListOut),
    ),
    Operation(
        _GET, "/v1/cases/{case_id}/keys", "The case's key bundle", Auth.DEVICE, ok(r.CaseKeysOut)
    ),
    Operation(
        _PUT,
        "/v1/cases/{case_id}/roster",
        "Publish the signed case roster",
        Auth.DEVICE,
        ok(r.VersionOut),
        body=m.RosterIn,
    ),
    Operation(
        _GET,
        "/v1/cases/{case_id}/roster",
        "The current case roster",
        Auth.DEVICE,
        ok(r.RosterOut),
    ),
    # ---------------------------------------------------------------- enrolment
    Operation(
        _POST,
        "/v1/witnesses/{witness_id}/enrolments",
        "Register an enrolment code for the witness's phone",
        Auth.STAFF,
        created(r.EnrolmentOfficerOut),
        body=m.IssueEnrolmentIn,
    ),
    Operation(
        _GET,
        "/v1/enrolments/{enrolment_id}",
        "Follow an enrolment",
        Auth.STAFF,
        ok(r.EnrolmentOfficerOut),
    ),
    Operation(
        _POST,
        "/v1/enrolments/{enrolment_id}/reveal",
        "Reveal the officer's nonce",
        Auth.STAFF,
        ok(r.EnrolmentOfficerOut),
        body=m.NonceIn,
    ),
    Operation(
        _POST,
        "/v1/enrolments/{enrolment_id}/complete",
        "Confirm the numbers matched",
        Auth.STAFF,
        ok(r.Ok),
    ),
    Operation(
        _POST, "/v1/enrolments/{enrolment_id}/abort", "Abort the enrolment", Auth.STAFF, ok(r.Ok)
    ),
    Operation(
        _POST,
        "/v1/enrol",
        "A phone claims its enrolment with the code",
        Auth.NONE,
        created(r.EnrolledOut, "Enrolled; the token is the device credential"),
        body=m.EnrolIn,
        problems=frozenset({403, 409, 429}),
    ),
    Operation(
        _PUT, "/v1/me/enrolment/nonce", "The phone's nonce", Auth.DEVICE, ok(r.Ok), body=m.NonceIn
    ),
    Operation(
        _GET,
        "/v1/me/enrolment",
        "The phone's view of its enrolment",
        Auth.DEVICE,
        ok(r.EnrolmentPhoneOut),
    ),
    Operation(
        _POST, "/v1/me/enrolment/abort", "The phone aborts its enrolment", Auth.DEVICE, ok(r.Ok)
    ),
    # ---------------------------------------------------------------- messages
    Operation(
        _PUT,
        "/v1/cases/{case_id}/messages/{message_id}",
        "Send a message (one ciphertext per device); idempotent by message id",
        Auth.DEVICE,
        {201: Reply("Stored", r.ReceiptOut), 200: Reply("Already stored", r.ReceiptOut)},
        body=m.SendIn,
    ),
    Operation(
        _PUT,
        "/v1/cases/{case_id}/messages/{message_id}/copies/{device_id}",
        "Add one device's copy of a sent message",
        Auth.DEVICE,
        {201: Reply("Stored", r.ResendOut), 200: Reply("Already stored", r.ResendOut)},
        body=m.ResendIn,
    ),
    Operation(
        _GET,
        "/v1/messages",
        "Pending message copies for the caller's device",
        Auth.DEVICE,
        ok(r.MessagesOut),
        query=(
            Query("after", "Only copies after this copy id", {"type": "integer", "minimum": 0}),
            Query("limit", "At most this many (1-500)", {"type": "integer", "minimum": 1}),
        ),
    ),
    Operation(
        _POST,
        "/v1/messages/ack",
        "Acknowledge received copies",
        Auth.DEVICE,
        ok(r.AcknowledgedOut),
        body=m.AckIn,
    ),
    Operation(_GET, "/v1/events", "Pending device events", Auth.DEVICE, ok(r.EventsOut)),
    Operation(
        _POST,
        "/v1/events/ack",
        "Acknowledge device events",
        Auth.DEVICE,
        ok(r.AcknowledgedOut),
        body=m.EventAckIn,
    ),
    Operation(
        _POST,
        "/v1/cases/{case_id}/attachments",
        "Upload an encrypted attachment",
        Auth.DEVICE,
        created(r.AttachmentOut),
        raw_body=("application/octet-stream", {"type": "string", "format": "binary"}),
        query=(
            Query(
                "recipients",
                "Comma-separated device ids that may fetch it",
                {"type": "string"},
            ),
        ),
        problems=frozenset({413, 422}),
    ),
    Operation(
        _GET,
        "/v1/attachments/{attachment_id}",
        "Fetch an encrypted attachment",
        Auth.DEVICE,
        {200: Reply("The ciphertext", media="application/octet-stream", schema={"type": "string"})},
    ),
    Operation(
        _POST,
        "/v1/attachments/{attachment_id}/ack",
        "Confirm an attachment was fetched",
        Auth.DEVICE,
        ok(r.DeletedOut),
    ),
    Operation(
        _GET,
        "/v1/ws",
        "The device WebSocket (messages and events pushed; acknowledgements received)",
        Auth.DEVICE,
        {101: Reply("Switching to the WebSocket protocol", media=None)},
        problems=frozenset({400, 503}),
    ),
    # ---------------------------------------------------------------- welfare: the phone
    Operation(
        _GET,
        "/v1/checkins/current",
        "The open check-in, if any",
        Auth.DEVICE,
        ok(r.CurrentCheckInOut),
    ),
    Operation(
        _POST,
        "/v1/checkins/{checkin_id}/response",
        "Answer a check-in",
        Auth.DEVICE,
        ok(r.RecordedOut),
        body=m.CheckInResponseIn,
    ),
    Operation(
        _POST, "/v1/heartbeat", "The phone is alive", Auth.DEVICE, ok(r.Ok), body=m.HeartbeatIn
    ),
    Operation(
        _POST,
        "/v1/panic",
        "The witness asks for help now",
        Auth.DEVICE,
        {202: Reply("Raised", r.Ok)},
        body=m.PanicIn,
    ),
    Operation(
        _PUT,
        "/v1/me/sms-words",
        "The witness's SMS check-in words",
        Auth.DEVICE,
        ok(r.Ok),
        body=m.SmsWordsIn,
    ),
    # ---------------------------------------------------------------- welfare: staff
    Operation(
        _GET,
        "/v1/witnesses/{witness_id}/checkin-plan",
        "The witness's check-in plan",
        Auth.STAFF,
        ok(r.PlanOut),
    ),
    Operation(
        _PUT,
        "/v1/witnesses/{witness_id}/checkin-plan",
        "Set the check-in plan",
        Auth.STAFF,
        ok(r.PlanOut),
        body=m.PlanIn,
    ),
    Operation(
        _POST,
        "/v1/witnesses/{witness_id}/checkin-plan/pause",
        "Pause check-ins",
        Auth.STAFF,
        ok(r.PlanOut),
        body=m.PauseIn,
    ),
    Operation(
        _POST,
        "/v1/witnesses/{witness_id}/checkin-plan/resume",
        "Resume check-ins",
        Auth.STAFF,
        ok(r.PlanOut),
    ),
    Operation(
        _PUT,
        "/v1/witnesses/{witness_id}/phone",
        "Set or clear the witness's SMS number",
        Auth.STAFF,
        ok(r.PhoneSetOut),
        body=m.PhoneIn,
    ),
    Operation(
        _PUT,
        "/v1/witnesses/{witness_id}/voice",
        "Set the witness's check-in by phone: voice PIN, duress PIN, check-in calls",
        Auth.STAFF,
        ok(r.Ok),
        body=m.WitnessVoiceIn,
    ),
    Operation(
        _PUT,
        "/v1/me/phone",
        "Set or clear the caller's SMS number",
        Auth.STAFF,
        ok(r.PhoneSetOut),
        body=m.PhoneIn,
    ),
    Operation(_PUT, "/v1/me/duty", "Go on or off duty", Auth.STAFF, ok(r.DutyOut), body=m.DutyIn),
    Operation(
        _GET,
        "/v1/cases/{case_id}/welfare-settings",
        "The case's welfare settings",
        Auth.STAFF,
        ok(r.CaseSettingsOut),
    ),
    Operation(
        _PUT,
        "/v1/cases/{case_id}/welfare-settings",
        "Change the case's welfare settings",
        Auth.STAFF,
        ok(r.CaseSettingsOut),
        body=m.CaseSettingsIn,
    ),
    Operation(
        _GET,
        "/v1/cases/{case_id}/escalation-policy",
        "The escalation policy in force",
        Auth.STAFF,
        ok(r.PolicyOut),
    ),
    Operation(
        _PUT,
        "/v1/cases/{case_id}/escalation-policy",
        "Set the case's escalation policy",
        Auth.STAFF,
        ok(r.PolicyOut),
        body=m.PolicyIn,
    ),
    Operation(
        _PUT,
        "/v1/agencies/{agency_id}/escalation-policy",
        "Set an agency's escalation policy",
        Auth.STAFF,
        ok(r.PolicyOut),
        body=m.PolicyIn,
    ),
    # ---------------------------------------------------------------- alerts
    Operation(
        _GET,
        "/v1/alerts",
        "Alerts the caller may see",
        Auth.STAFF,
        ok(r.AlertsOut),
        query=(Query("include_resolved", "Include resolved alerts", TRUE_OR_FALSE),),
    ),
    Operation(
        _GET,
        "/v1/alerts/{alert_id}",
        "An alert with its notifications",
        Auth.STAFF,
        ok(r.AlertDetailOut),
    ),
    Operation(
        _POST,
        "/v1/alerts/{alert_id}/acknowledge",
        "Acknowledge an alert",
        Auth.STAFF,
        ok(r.AlertOut),
    ),
    Operation(
        _POST,
        "/v1/alerts/{alert_id}/resolve",
        "Resolve an alert with its outcome",
        Auth.STAFF,
        ok(r.AlertOut),
        body=m.ResolveIn,
    ),
    # ---------------------------------------------------------------- Twilio webhooks
    Operation(
        _POST,
        "/v1/twilio/sms",
        "Inbound SMS (a check-in by text)",
        Auth.TWILIO,
        {200: Reply("Empty TwiML", media="application/xml", schema={"type": "string"})},
        raw_body=("application/x-www-form-urlencoded", _TWILIO_SMS),
        problems=frozenset({400, 403}),
    ),
    Operation(
        _POST,
        "/v1/twilio/status",
        "SMS delivery status callback",
        Auth.TWILIO,
        {204: Reply("Recorded", media=None)},
        raw_body=("application/x-www-form-urlencoded", _TWILIO_STATUS),
        problems=frozenset({400, 403}),
    ),
    # Voice (issue 13, part "voice"): alert calls to staff.
    Operation(
        _POST,
        "/v1/twilio/voice/alert/{notification_id}",
        "TwiML of an alert call: press 1 to acknowledge (a machine hears a hang-up)",
        Auth.TWILIO,
        {200: Reply("TwiML", media="application/xml", schema={"type": "string"})},
        raw_body=("application/x-www-form-urlencoded", _TWILIO_VOICE),
        problems=frozenset({400, 403}),
    ),
    Operation(
        _POST,
        "/v1/twilio/voice/alert/{notification_id}/key",
        "The key pressed on an alert call; 1 acknowledges the alert",
        Auth.TWILIO,
        {200: Reply("TwiML", media="application/xml", schema={"type": "string"})},
        raw_body=("application/x-www-form-urlencoded", _TWILIO_VOICE),
        problems=frozenset({400, 403}),
    ),
    Operation(
        _POST,
        "/v1/twilio/voice/incoming",
        "A call to our number (a witness checking in by phone)",
        Auth.TWILIO,
        {200: Reply("TwiML", media="application/xml", schema={"type": "string"})},
        raw_body=("application/x-www-form-urlencoded", _TWILIO_VOICE),
        problems=frozenset({400, 403}),
    ),
    Operation(
        _POST,
        "/v1/twilio/voice/checkin/call/{notification_id}",
        "TwiML of a check-in call to a witness (a machine hears a hang-up)",
        Auth.TWILIO,
        {200: Reply("TwiML", media="application/xml", schema={"type": "string"})},
        raw_body=("application/x-www-form-urlencoded", _TWILIO_VOICE),
        problems=frozenset({400, 403}),
    ),
    Operation(
        _POST,
        "/v1/twilio/voice/checkin/pin",
        "The voice PIN entered on a check-in call",
        Auth.TWILIO,
        {200: Reply("TwiML", media="application/xml", schema={"type": "string"})},
        raw_body=("application/x-www-form-urlencoded", _TWILIO_VOICE),
        problems=frozenset({400, 403}),
    ),
    Operation(
        _POST,
        "/v1/twilio/voice/checkin/menu",
        "The menu key pressed on a check-in call (1 well, 2 contact me, 9 help)",
        Auth.TWILIO,
        {200: Reply("TwiML", media="application/xml", schema={"type": "string"})},
        raw_body=("application/x-www-form-urlencoded", _TWILIO_VOICE),
        problems=frozenset({400, 403}),
    ),
    Operation(
        _POST,
        "/v1/twilio/voice/status",
        "Call status callback (the call's final status)",
        Auth.TWILIO,
        {204: Reply("Recorded", media=None)},
        raw_body=("application/x-www-form-urlencoded", _TWILIO_VOICE),
        problems=frozenset({400, 403}),
    ),
    # ---------------------------------------------------------------- court dates
    Operation(
        _POST,
        "/v1/cases/{case_id}/appointments",
        "Schedule a hearing or video link",
        Auth.STAFF,
        created(r.AppointmentOut),
        body=m.AppointmentIn,
    ),
    Operation(
        _GET,
        "/v1/cases/{case_id}/appointments",
        "The case's appointments",
        Auth.STAFF,
        ok(r.AppointmentsOut),
        query=(Query("include_past", "Include past appointments", TRUE_OR_FALSE),),
    ),
    Operation(
        _GET,
        "/v1/appointments/{appointment_id}",
        "One appointment",
        Auth.STAFF,
        ok(r.AppointmentOut),
    ),
    Operation(
        _POST,
        "/v1/appointments/{appointment_id}/reschedule",
        "Move an appointment",
        Auth.STAFF,
        ok(r.AppointmentOut),
        body=m.AppointmentIn,
    ),
    Operation(
        _POST,
        "/v1/appointments/{appointment_id}/cancel",
        "Cancel an appointment",
        Auth.STAFF,
        ok(r.AppointmentOut),
        body=m.CancelIn,
    ),
    Operation(
        _POST,
        "/v1/appointments/{appointment_id}/attendance",
        "Record attendance",
        Auth.STAFF,
        ok(r.AppointmentOut),
        body=m.AttendanceIn,
    ),
    Operation(
        _GET,
        "/v1/me/appointments",
        "The witness's upcoming appointments",
        Auth.DEVICE,
        ok(r.AppointmentsOut),
    ),
    Operation(
        _POST,
        "/v1/appointments/{appointment_id}/answer",
        "Confirm or ask to rearrange",
        Auth.DEVICE,
        ok(r.AppointmentOut),
        body=m.AppointmentAnswerIn,
    ),
    Operation(
        _POST,
        "/v1/appointments/{appointment_id}/ready",
        "The witness is ready",
        Auth.DEVICE,
        ok(r.AppointmentOut),
        body=m.ReadyIn,
    ),
    Operation(
        _POST,
        "/v1/me/calendar-feed",
        "Issue the caller's secret calendar URL",
        Auth.STAFF,
        created(r.FeedOut),
    ),
    Operation(
        _DELETE,
        "/v1/me/calendar-feed",
        "Revoke the caller's calendar URL",
        Auth.STAFF,
        ok(r.RevokedOut),
    ),
    Operation(
        _GET,
        "/v1/calendar/{token}.ics",
        "The court-dates calendar feed (the secret is in the URL)",
        Auth.NONE,
        {200: Reply("iCalendar", media="text/calendar", schema={"type": "string"})},
    ),
    # ---------------------------------------------------------------- vault unlock
    Operation(
        _POST,
        "/v1/vault/setup",
        "Set up the server half of the phone's PIN",
        Auth.DEVICE,
        created(r.VaultSetupOut),
        body=v.SetupIn,
        problems=ERASED,
    ),
    Operation(
        _PUT,
        "/v1/vault/keys",
        "Register the PIN keys",
        Auth.DEVICE,
        ok(r.Ok),
        body=v.RegisterKeysIn,
        problems=ERASED,
    ),
    Operation(
        _POST,
        "/v1/vault/unlock/{device_id}/evaluate",
        "Evaluate the blinded PIN (one guess)",
        Auth.UNLOCK,
        ok(r.EvaluateOut),
        body=v.EvaluateIn,
        problems=frozenset({409, 410, 429}),
    ),
    Operation(
        _POST,
        "/v1/vault/unlock/{device_id}/challenge",
        "A fresh challenge",
        Auth.UNLOCK,
        ok(r.AttemptOut),
        problems=frozenset({409, 410, 429}),
    ),
    Operation(
        _POST,
        "/v1/vault/unlock/{device_id}/confirm",
        "Confirm an unlock",
        Auth.UNLOCK,
        ok(r.ConfirmedOut),
        body=v.ConfirmIn,
        problems=frozenset({409, 410, 429}),
    ),
    Operation(
        _POST,
        "/v1/vault/unlock/{device_id}/failed",
        "Report a wrong PIN",
        Auth.UNLOCK,
        ok(r.AttemptsLeftOut),
        body=v.FailedIn,
        problems=frozenset({409, 410, 429}),
    ),
    Operation(
        _POST,
        "/v1/vault/keys/endorse",
        "Endorse a new PIN key",
        Auth.DEVICE,
        ok(r.Ok),
        body=v.EndorseIn,
        problems=ERASED,
    ),
    Operation(
        _POST,
        "/v1/vault/keys/retire",
        "Retire a PIN key",
        Auth.DEVICE,
        ok(r.RetiredOut),
        body=v.RetireIn,
        problems=ERASED,
    ),
    Operation(
        _POST,
        "/v1/vault/erase",
        "Erase the server half of the PIN",
        Auth.DEVICE,
        ok(r.ErasedOut),
    ),
)


def operations_by_route() -> dict[tuple[str, str], Operation]:
    """The table keyed by (method, path template)."""
    return {operation.key: operation for operation in OPERATIONS}
