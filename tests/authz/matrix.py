"""The authorization matrix: every route of the app by every actor → the expected outcome.

How to read it
--------------
One line per route (method and template, exactly as the app registers them; the HEAD
route aiohttp adds beside each GET goes with it), one column per actor. The walker
(``walker.py``, run by ``test_matrix.py``) makes each cell's request in the seeded world
of ``world.py``, as the route's recipe (``recipes.py``) builds it, and compares the
status code.

Actors (columns):

====  =====================================================================================
W     the witness of case A (their phone's device token)
OW    the witness of another case, B
O     the officer assigned to case A (German police)
SW    the support worker assigned to case A (Romanian support agency)
CO    a colleague: an officer of case A's own police agency who is not assigned to it
FO    an officer of an agency not on case A (French police; owns case B)
FW    a support worker of an agency not on case A (a second Romanian support agency)
FS    a supervisor of an agency not on case A (the French police)
SV    a supervisor of case A's police agency, not assigned to the case
AD    an admin of case A's police agency, not assigned to the case
SA    an admin of case A's support agency (the review's attacker: a foreign support
      organisation's admin reaching into the police agency), not assigned to the case.
      The admin routes point at the police agency and its staff, so this column shows
      every agency governing itself: AD's 2xx are SA's 403/404 there
OP    the platform operator: agencies and first admins are made with the command line
      (``witnesslink admin …``); there is no operator credential in the HTTP API, so
      every cell is ``-`` (no HTTP surface) and nothing is sent
RV    a staff device that was revoked (its bearer token)
AN    no credentials at all
XS    an expired console session (idle past the limit; its cookie and its CSRF token)
====  =====================================================================================

Credentials per kind of route: on ``/v1/…`` and the other API routes, every actor with
a device (W, OW, O, SW, CO, FO, FW, FS, SV, AD, RV) sends its bearer token — except on
``/v1/vault/unlock/…``, which take a phone's unlock credential instead, so W and OW send
theirs there. On ``/console/…`` routes the staff actors present a **valid console
session** (a new one per cell: cookie, and its CSRF token in every POSTed form); W, OW
and RV have no console session and send their bearer token, which the console must not
accept. XS sends its cookie on every route (on the API it must count for nothing).

Outcomes (cells): the exact status code expected.

* 2xx, 101 (WebSocket upgrade accepted), 303 (a console form done, back to its page):
  allowed.
* 302 on a ``/console`` route: refused, sent to ``/console/login`` (the console's 401).
  (``GET /`` answers 302 to everyone: it only points at the console.)
* 401 unauthenticated, 403 refused, 404 refused by hiding the resource's existence.
* A domain-level 404/409/422 in an allowed row means authorization passed and the
  domain then refused the request as such (422: key material only a real device could
  sign; 409: a state that forbids it, such as an enrolment no phone has claimed yet);
  the same row's refused cells prove the difference. The recipes' notes say why.
* ``-``: the actor has no way to make this request (no HTTP surface).

Adding a route: add its line here (the walker fails on a route missing from the table,
and on a line naming a route the app lacks), and a recipe in ``recipes.py`` that points
its path parameters at case A's things and sends a minimal valid body.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Actor(enum.Enum):
    """Who makes the request; the value is the column heading."""

    WITNESS = "W"
    OTHER_WITNESS = "OW"
    OFFICER = "O"
    WORKER = "SW"
    COLLEAGUE = "CO"
    FOREIGN_OFFICER = "FO"
    FOREIGN_WORKER = "FW"
    FOREIGN_SUPERVISOR = "FS"
    SUPERVISOR = "SV"
    ADMIN = "AD"
    SUPPORT_ADMIN = "SA"
    OPERATOR = "OP"
    REVOKED = "RV"
    ANONYMOUS = "AN"
    EXPIRED_SESSION = "XS"


#: A cell meaning "this actor cannot make this request at all".
NO_SURFACE = "-"

TABLE = """
method  route                                                                W    OW   O    SW   CO   FO   FW   FS   SV   AD   SA   OP   RV   AN   XS
# accounts
POST    /v1/auth/login                                                       401  401  401  401  401  401  401  401  401  401  401  -    401  401  401
GET     /v1/me                                                               200  200  200  200  200  200  200  200  200  200  200  -    401  401  401
GET     /v1/devices                                                          200  200  200  200  200  200  200  200  200  200  200  -    401  401  401
POST    /v1/devices/{device_id}/revoke                                       200  404  200  403  404  404  404  404  200  200  200  -    401  401  401
# cases
GET     /v1/cases                                                            403  403  200  200  200  200  200  200  200  200  200  -    401  401  401
POST    /v1/cases                                                            403  403  201  403  201  201  403  201  201  201  403  -    401  401  401
GET     /v1/cases/{case_id}                                                  403  403  200  200  404  404  404  404  200  200  200  -    401  401  401
POST    /v1/cases/{case_id}/staff                                            403  403  200  200  404  404  404  404  200  200  200  -    401  401  401
DELETE  /v1/cases/{case_id}/staff/{staff_id}                                 403  403  200  200  404  404  404  404  200  200  200  -    401  401  401
POST    /v1/cases/{case_id}/witness                                          403  403  201  403  404  404  404  404  201  201  201  -    401  401  401
POST    /v1/cases/{case_id}/close                                            403  403  200  403  404  404  404  404  200  200  200  -    401  401  401
POST    /v1/cases/{case_id}/review                                           403  403  200  403  404  404  404  404  200  200  200  -    401  401  401
# keys
GET     /v1/cases/{case_id}/devices                                          200  404  200  200  404  404  404  404  404  404  404  -    401  401  401
POST    /v1/keys                                                             200  200  200  200  200  200  200  200  200  200  200  -    401  401  401
GET     /v1/keys/count                                                       200  200  200  200  200  200  200  200  200  200  200  -    401  401  401
POST    /v1/keys/claim                                                       200  404  200  200  404  404  404  404  404  404  404  -    401  401  401
# identities
PUT     /v1/me/device-keys                                                   422  422  422  422  422  422  422  422  422  422  422  -    401  401  401
PUT     /v1/me/identity                                                      422  422  422  422  422  422  422  422  422  422  422  -    401  401  401
GET     /v1/me/identity                                                      200  200  200  200  200  200  200  200  200  200  200  -    401  401  401
PUT     /v1/me/identity-backup                                               403  403  200  200  200  200  200  200  200  200  200  -    401  401  401
GET     /v1/me/identity-backup                                               404  404  200  200  200  200  200  200  200  200  200  -    401  401  401
GET     /v1/staff/{staff_id}/identity                                        403  403  200  200  200  200  200  200  200  200  200  -    401  401  401
GET     /v1/cases/{case_id}/keys                                             200  404  200  200  404  404  404  404  404  404  404  -    401  401  401
PUT     /v1/cases/{case_id}/roster                                           403  404  200  403  404  404  404  404  404  404  404  -    401  401  401
GET     /v1/cases/{case_id}/roster                                           200  404  200  200  404  404  404  404  404  404  404  -    401  401  401
# enrolment
POST    /v1/witnesses/{witness_id}/enrolments                                403  403  201  403  404  404  404  404  201  201  201  -    401  401  401
GET     /v1/enrolments/{enrolment_id}                                        403  403  200  404  404  404  404  404  404  404  404  -    401  401  401
POST    /v1/enrolments/{enrolment_id}/reveal                                 403  403  422  404  404  404  404  404  404  404  404  -    401  401  401
POST    /v1/enrolments/{enrolment_id}/complete                               403  403  409  404  404  404  404  404  404  404  404  -    401  401  401
POST    /v1/enrolments/{enrolment_id}/abort                                  403  403  200  404  404  404  404  404  404  404  404  -    401  401  401
POST    /v1/enrol                                                            422  422  422  422  422  422  422  422  422  422  422  -    422  422  422
PUT     /v1/me/enrolment/nonce                                               409  409  403  403  403  403  403  403  403  403  403  -    401  401  401
GET     /v1/me/enrolment                                                     200  200  404  404  404  404  404  404  404  404  404  -    401  401  401
POST    /v1/me/enrolment/abort                                               409  409  404  404  404  404  404  404  404  404  404  -    401  401  401
# messages
PUT     /v1/cases/{case_id}/messages/{message_id}                            201  404  201  201  404  404  404  404  404  404  404  -    401  401  401
PUT     /v1/cases/{case_id}/messages/{message_id}/copies/{device_id}         201  404  201  201  404  404  404  404  404  404  404  -    401  401  401
GET     /v1/messages                                                         200  200  200  200  200  200  200  200  200  200  200  -    401  401  401
POST    /v1/messages/ack                                                     200  200  200  200  200  200  200  200  200  200  200  -    401  401  401
GET     /v1/events                                                           200  200  200  200  200  200  200  200  200  200  200  -    401  401  401
POST    /v1/events/ack                                                       200  200  200  200  200  200  200  200  200  200  200  -    401  401  401
POST    /v1/cases/{case_id}/attachments                                      201  404  201  201  404  404  404  404  404  404  404  -    401  401  401
GET     /v1/attachments/{attachment_id}                                      404  404  200  404  404  404  404  404  404  404  404  -    401  401  401
POST    /v1/attachments/{attachment_id}/ack                                  404  404  200  404  404  404  404  404  404  404  404  -    401  401  401
# realtime
GET     /v1/ws                                                               101  101  101  101  101  101  101  101  101  101  101  -    401  401  401
# health
GET     /healthz                                                             200  200  200  200  200  200  200  200  200  200  200  -    200  200  200
GET     /livez                                                               200  200  200  200  200  200  200  200  200  200  200  -    200  200  200
GET     /readyz                                                              200  200  200  200  200  200  200  200  200  200  200  -    200  200  200
# welfare
GET     /v1/checkins/current                                                 200  200  403  403  403  403  403  403  403  403  403  -    401  401  401
POST    /v1/checkins/{checkin_id}/response                                   200  404  403  403  403  403  403  403  403  403  403  -    401  401  401
POST    /v1/heartbeat                                                        200  200  403  403  403  403  403  403  403  403  403  -    401  401  401
POST    /v1/panic                                                            202  202  403  403  403  403  403  403  403  403  403  -    401  401  401
PUT     /v1/me/sms-words                                                     200  200  403  403  403  403  403  403  403  403  403  -    401  401  401
GET     /v1/witnesses/{witness_id}/checkin-plan                              403  403  200  200  404  404  404  404  200  200  200  -    401  401  401
PUT     /v1/witnesses/{witness_id}/checkin-plan                              403  403  200  200  404  404  404  404  200  200  200  -    401  401  401
POST    /v1/witnesses/{witness_id}/checkin-plan/pause                        403  403  200  200  404  404  404  404  200  200  200  -    401  401  401
POST    /v1/witnesses/{witness_id}/checkin-plan/resume                       403  403  200  200  404  404  404  404  200  200  200  -    401  401  401
PUT     /v1/witnesses/{witness_id}/phone                                     403  403  200  200  404  404  404  404  200  200  200  -    401  401  401
PUT     /v1/witnesses/{witness_id}/voice                                     403  403  200  200  404  404  404  404  200  200  200  -    401  401  401
PUT     /v1/me/phone                                                         403  403  200  200  200  200  200  200  200  200  200  -    401  401  401
PUT     /v1/me/duty                                                          403  403  200  200  200  200  200  200  200  200  200  -    401  401  401
GET     /v1/cases/{case_id}/welfare-settings                                 403  403  200  200  404  404  404  404  200  200  200  -    401  401  401
PUT     /v1/cases/{case_id}/welfare-settings                                 403  403  200  200  404  404  404  404  200  200  200  -    401  401  401
GET     /v1/cases/{case_id}/escalation-policy                                403  403  200  200  404  404  404  404  200  200  200  -    401  401  401
PUT     /v1/cases/{case_id}/escalation-policy                                403  403  200  200  404  404  404  404  200  200  200  -    401  401  401
PUT     /v1/agencies/{agency_id}/escalation-policy                           403  403  403  403  403  403  403  403  200  200  403  -    401  401  401
# alerts
GET     /v1/alerts                                                           403  403  200  200  200  200  200  200  200  200  200  -    401  401  401
GET     /v1/alerts/{alert_id}                                                403  403  200  200  404  404  404  404  200  200  200  -    401  401  401
POST    /v1/alerts/{alert_id}/acknowledge                                    403  403  200  200  404  404  404  404  200  200  200  -    401  401  401
POST    /v1/alerts/{alert_id}/resolve                                        403  403  200  200  404  404  404  404  200  200  200  -    401  401  401
# twilio
POST    /v1/twilio/sms                                                       403  403  403  403  403  403  403  403  403  403  403  -    403  403  403
POST    /v1/twilio/status                                                    403  403  403  403  403  403  403  403  403  403  403  -    403  403  403
POST    /v1/twilio/voice/alert/{notification_id}                             403  403  403  403  403  403  403  403  403  403  403  -    403  403  403
POST    /v1/twilio/voice/alert/{notification_id}/key                         403  403  403  403  403  403  403  403  403  403  403  -    403  403  403
POST    /v1/twilio/voice/incoming                                            403  403  403  403  403  403  403  403  403  403  403  -    403  403  403
POST    /v1/twilio/voice/checkin/call/{notification_id}                      403  403  403  403  403  403  403  403  403  403  403  -    403  403  403
POST    /v1/twilio/voice/checkin/pin                                         403  403  403  403  403  403  403  403  403  403  403  -    403  403  403
POST    /v1/twilio/voice/checkin/menu                                        403  403  403  403  403  403  403  403  403  403  403  -    403  403  403
POST    /v1/twilio/voice/status                                              403  403  403  403  403  403  403  403  403  403  403  -    403  403  403
# court
POST    /v1/cases/{case_id}/appointments                                     403  403  201  201  404  404  404  404  201  201  201  -    401  401  401
GET     /v1/cases/{case_id}/appointments                                     403  403  200  200  404  404  404  404  200  200  200  -    401  401  401
GET     /v1/appointments/{appointment_id}                                    403  403  200  200  404  404  404  404  200  200  200  -    401  401  401
POST    /v1/appointments/{appointment_id}/reschedule                         403  403  200  200  404  404  404  404  200  200  200  -    401  401  401
POST    /v1/appointments/{appointment_id}/cancel                             403  403  200  200  404  404  404  404  200  200  200  -    401  401  401
POST    /v1/appointments/{appointment_id}/attendance                         403  403  200  200  404  404  404  404  200  200  200  -    401  401  401
GET     /v1/me/appointments                                                  200  200  403  403  403  403  403  403  403  403  403  -    401  401  401
POST    /v1/appointments/{appointment_id}/answer                             200  404  403  403  403  403  403  403  403  403  403  -    401  401  401
POST    /v1/appointments/{appointment_id}/ready                              200  404  403  403  403  403  403  403  403  403  403  -    401  401  401
# welfare visits
GET     /v1/witnesses/{witness_id}/visit-plan                                403  403  200  200  404  404  404  404  200  200  200  -    401  401  401
PUT     /v1/witnesses/{witness_id}/visit-plan                                403  403  200  200  404  404  404  404  200  200  200  -    401  401  401
POST    /v1/cases/{case_id}/visits                                           403  403  201  201  404  404  404  404  201  201  201  -    401  401  401
GET     /v1/cases/{case_id}/visits                                           403  403  200  200  404  404  404  404  200  200  200  -    401  401  401
GET     /v1/visits/{visit_id}                                                403  403  200  200  404  404  404  404  200  200  200  -    401  401  401
POST    /v1/visits/{visit_id}/cancel                                         403  403  200  200  404  404  404  404  200  200  200  -    401  401  401
POST    /v1/visits/{visit_id}/record                                         403  403  200  200  404  404  404  404  200  200  200  -    401  401  401
POST    /v1/visits/{visit_id}/door                                           200  404  403  403  403  403  403  403  403  403  403  -    401  401  401
POST    /v1/me/calendar-feed                                                 403  403  201  201  201  201  201  201  201  201  201  -    401  401  401
DELETE  /v1/me/calendar-feed                                                 403  403  200  200  200  200  200  200  200  200  200  -    401  401  401
GET     /v1/calendar/{token}.ics                                             200  200  200  200  200  200  200  200  200  200  200  -    200  200  200
# vault
POST    /v1/vault/setup                                                      409  409  403  403  403  403  403  403  403  403  403  -    401  401  401
PUT     /v1/vault/keys                                                       409  409  403  403  403  403  403  403  403  403  403  -    401  401  401
POST    /v1/vault/unlock/{device_id}/evaluate                                200  401  401  401  401  401  401  401  401  401  401  -    401  401  401
POST    /v1/vault/unlock/{device_id}/challenge                               200  401  401  401  401  401  401  401  401  401  401  -    401  401  401
POST    /v1/vault/unlock/{device_id}/confirm                                 409  401  401  401  401  401  401  401  401  401  401  -    401  401  401
POST    /v1/vault/unlock/{device_id}/failed                                  200  401  401  401  401  401  401  401  401  401  401  -    401  401  401
POST    /v1/vault/keys/endorse                                               409  409  403  403  403  403  403  403  403  403  403  -    401  401  401
POST    /v1/vault/keys/retire                                                200  200  403  403  403  403  403  403  403  403  403  -    401  401  401
POST    /v1/vault/erase                                                      200  200  403  403  403  403  403  403  403  403  403  -    401  401  401
# handover and risk assessment (issue 11)
POST    /v1/cases/{case_id}/handover                                         403  403  201  403  404  404  404  404  201  201  404  -    401  401  401
GET     /v1/cases/{case_id}/handover                                         403  403  200  200  404  404  404  404  200  200  200  -    401  401  401
POST    /v1/cases/{case_id}/handover/consent                                 403  403  201  403  404  404  404  404  201  201  403  -    401  401  401
POST    /v1/me/handover-consent                                              201  201  403  403  403  403  403  403  403  403  403  -    401  401  401
GET     /v1/handover-requests                                                403  403  200  200  200  200  200  200  200  200  200  -    401  401  401
GET     /v1/handover-requests/{handover_id}                                  403  403  404  200  404  404  404  404  404  404  200  -    401  401  401
POST    /v1/handover-requests/{handover_id}/accept                           403  403  404  200  404  404  404  404  404  404  200  -    401  401  401
POST    /v1/handover-requests/{handover_id}/decline                          403  403  404  200  404  404  404  404  404  404  200  -    401  401  401
POST    /v1/cases/{case_id}/assessments                                      403  403  201  201  404  404  404  404  201  201  201  -    401  401  401
GET     /v1/cases/{case_id}/assessments                                      403  403  200  200  404  404  404  404  200  200  200  -    401  401  401
GET     /v1/assessments/{assessment_id}/notes                                403  403  200  200  404  404  404  404  200  200  200  -    401  401  401
# console: auth
GET     /console/login                                                       200  200  303  303  303  303  303  303  303  303  303  -    200  200  200
POST    /console/login                                                       303  303  303  303  303  303  303  303  303  303  303  -    303  303  303
POST    /console/logout                                                      302  302  303  303  303  303  303  303  303  303  303  -    302  302  302
POST    /console/language                                                    302  302  303  303  303  303  303  303  303  303  303  -    302  302  302
# console: caseload
GET     /console/                                                            302  302  200  200  200  200  200  200  200  200  200  -    302  302  302
GET     /console/caseload/rows                                               302  302  200  200  200  200  200  200  200  200  200  -    302  302  302
GET     /console/events                                                      302  302  200  200  200  200  200  200  200  200  200  -    302  302  302
# console: alerts
GET     /console/alerts                                                      302  302  200  200  200  200  200  200  200  200  200  -    302  302  302
GET     /console/alerts/{alert_id}                                           302  302  200  200  404  404  404  404  200  200  200  -    302  302  302
GET     /console/alerts/live                                                 302  302  200  200  200  200  200  200  200  200  200  -    302  302  302
POST    /console/alerts/{alert_id}/acknowledge                               302  302  303  303  404  404  404  404  303  303  303  -    302  302  302
POST    /console/alerts/{alert_id}/resolve                                   302  302  303  303  404  404  404  404  303  303  303  -    302  302  302
# console: admin
GET     /console/admin                                                       302  302  403  403  403  403  403  200  200  200  200  -    302  302  302
GET     /console/admin/agencies/{agency_id}                                  302  302  403  403  403  403  403  403  200  200  403  -    302  302  302
POST    /console/admin/agencies/{agency_id}/staff                            302  302  403  403  403  403  403  403  303  303  403  -    302  302  302
GET     /console/admin/staff/{staff_id}                                      302  302  403  403  403  403  403  404  200  200  404  -    302  302  302
POST    /console/admin/staff/{staff_id}/role                                 302  302  403  403  403  403  403  404  303  303  404  -    302  302  302
POST    /console/admin/staff/{staff_id}/active                               302  302  403  403  403  403  403  404  303  303  404  -    302  302  302
POST    /console/admin/staff/{staff_id}/duty                                 302  302  403  403  403  403  403  404  303  303  404  -    302  302  302
POST    /console/admin/staff/{staff_id}/totp                                 302  302  403  403  403  403  403  404  303  303  404  -    302  302  302
GET     /console/admin/agencies/{agency_id}/policy                           302  302  403  403  403  403  403  403  200  200  403  -    302  302  302
POST    /console/admin/agencies/{agency_id}/policy                           302  302  403  403  403  403  403  403  303  303  403  -    302  302  302
GET     /console/admin/agencies/{agency_id}/playbooks                        302  302  403  403  403  403  403  403  403  200  403  -    302  302  302
POST    /console/admin/agencies/{agency_id}/playbooks                        302  302  403  403  403  403  403  403  403  303  403  -    302  302  302
GET     /console/admin/audit                                                 302  302  403  403  403  403  403  200  200  200  200  -    302  302  302
POST    /console/admin/audit/verify                                          302  302  403  403  403  403  403  200  200  200  200  -    302  302  302
# console: my account
GET     /console/account                                                     302  302  200  200  200  200  200  200  200  200  200  -    302  302  302
POST    /console/account/phone                                               302  302  303  303  303  303  303  303  303  303  303  -    302  302  302
POST    /console/account/duty                                                302  302  303  303  303  303  303  303  303  303  303  -    302  302  302
# console: witness
GET     /console/cases/{case_id}                                             302  302  200  200  404  404  404  404  200  200  200  -    302  302  302
POST    /console/cases/{case_id}/consult                                     302  302  200  200  404  404  404  404  200  200  200  -    302  302  302
GET     /console/cases/{case_id}/consult                                     302  302  303  303  303  303  303  303  303  303  303  -    302  302  302
POST    /console/cases/{case_id}/plan                                        302  302  303  303  404  404  404  404  303  303  303  -    302  302  302
POST    /console/cases/{case_id}/plan/pause                                  302  302  303  303  404  404  404  404  303  303  303  -    302  302  302
POST    /console/cases/{case_id}/plan/resume                                 302  302  303  303  404  404  404  404  303  303  303  -    302  302  302
POST    /console/cases/{case_id}/settings                                    302  302  303  303  404  404  404  404  303  303  303  -    302  302  302
POST    /console/cases/{case_id}/phone                                       302  302  303  303  404  404  404  404  303  303  303  -    302  302  302
POST    /console/cases/{case_id}/instructions                                302  302  303  303  404  404  404  404  303  303  303  -    302  302  302
POST    /console/cases/{case_id}/voice                                       302  302  303  303  404  404  404  404  303  303  303  -    302  302  302
POST    /console/cases/{case_id}/policy                                      302  302  303  303  404  404  404  404  303  303  303  -    302  302  302
POST    /console/cases/{case_id}/appointments                                302  302  303  303  404  404  404  404  303  303  303  -    302  302  302
POST    /console/cases/{case_id}/appointments/{appointment_id}/cancel        302  302  303  303  404  404  404  404  303  303  303  -    302  302  302
POST    /console/cases/{case_id}/appointments/{appointment_id}/attendance    302  302  303  303  404  404  404  404  303  303  303  -    302  302  302
POST    /console/cases/{case_id}/visit-plan                                  302  302  303  303  404  404  404  404  303  303  303  -    302  302  302
POST    /console/cases/{case_id}/visits                                      302  302  303  303  404  404  404  404  303  303  303  -    302  302  302
POST    /console/cases/{case_id}/visits/{visit_id}/record                    302  302  303  303  404  404  404  404  303  303  303  -    302  302  302
POST    /console/cases/{case_id}/visits/{visit_id}/cancel                    302  302  303  303  404  404  404  404  303  303  303  -    302  302  302
POST    /console/cases/{case_id}/devices/{device_id}/revoke                  302  302  303  403  404  404  404  404  303  303  303  -    302  302  302
# console: casework (issue 11)
POST    /console/cases                                                       302  302  303  403  303  303  403  303  303  303  403  -    302  302  302
POST    /console/cases/{case_id}/witness                                     302  302  303  403  404  404  404  404  303  303  303  -    302  302  302
POST    /console/cases/{case_id}/team                                        302  302  303  303  404  404  404  404  303  303  303  -    302  302  302
POST    /console/cases/{case_id}/team/{staff_id}/remove                      302  302  303  303  404  404  404  404  303  303  303  -    302  302  302
POST    /console/cases/{case_id}/review                                      302  302  303  403  404  404  404  404  303  303  303  -    302  302  302
POST    /console/cases/{case_id}/close                                       302  302  303  403  404  404  404  404  303  303  303  -    302  302  302
# console: handover and risk assessment (issue 11)
POST    /console/cases/{case_id}/handover                                    302  302  303  403  404  404  404  404  303  303  404  -    302  302  302
POST    /console/cases/{case_id}/assessments                                 302  302  303  303  404  404  404  404  303  303  303  -    302  302  302
POST    /console/cases/{case_id}/assessments/{assessment_id}/notes           302  302  200  200  404  404  404  404  200  200  200  -    302  302  302
POST    /console/cases/{case_id}/assessments/checkin-plan                    302  302  303  303  404  404  404  404  303  303  303  -    302  302  302
GET     /console/handovers                                                   302  302  200  200  200  200  200  200  200  200  200  -    302  302  302
POST    /console/handovers/{handover_id}/accept                              302  302  404  303  404  404  404  404  404  404  303  -    302  302  302
POST    /console/handovers/{handover_id}/decline                             302  302  404  303  404  404  404  404  404  404  303  -    302  302  302
# static files
GET     /console/static                                                      200  200  200  200  200  200  200  200  200  200  200  -    200  200  200
# pending merge (other parts of issue 12): public, and the same for everyone
GET     /                                                                    303  303  303  303  303  303  303  303  303  303  303  -    303  303  303
GET     /openapi.json                                                        200  200  200  200  200  200  200  200  200  200  200  -    200  200  200
"""  # noqa: E501 (a table: one route per line, one column per actor)


@dataclass(frozen=True, slots=True)
class Row:
    method: str
    route: str
    expected: dict[Actor, str]


def parse(table: str = TABLE) -> list[Row]:
    """The table's rows; raises ValueError on a malformed line or a duplicate route."""
    lines = [
        line for line in table.strip().splitlines() if line.strip() and not line.startswith("#")
    ]
    header = lines[0].split()
    actors = [Actor(heading) for heading in header[2:]]
    if set(actors) != set(Actor):
        raise ValueError("the table's columns must be every actor, once")
    rows: list[Row] = []
    seen: set[tuple[str, str]] = set()
    for line in lines[1:]:
        method, route, *cells = line.split()
        if len(cells) != len(actors):
            raise ValueError(f"{method} {route}: {len(cells)} cells for {len(actors)} actors")
        if (method, route) in seen:
            raise ValueError(f"{method} {route} appears twice")
        seen.add((method, route))
        rows.append(Row(method, route, dict(zip(actors, cells, strict=True))))
    return rows
