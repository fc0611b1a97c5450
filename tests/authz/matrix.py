"""The authorization matrix: every route of the app × every actor → the expected outcome.

How to read it
--------------
One line per route (method and template, exactly as the app registers them), one
column per actor. The walker (``test_matrix.py``) makes each request, in the seeded
world of ``world.py``, with the request each route's recipe builds (``recipes.py``),
and compares the status code.

Actors (columns):

====  =====================================================================================
W     the witness of case A (their phone's device token)
OW    the witness of another case, B
O     the officer assigned to case A (German police)
SW    the support worker assigned to case A (Romanian support agency)
FO    an officer of an agency not on case A (French police; owns case B)
FW    a support worker of an agency not on case A (a second Romanian support agency)
SV    a supervisor of case A's police agency, not assigned to the case
AD    an admin of case A's police agency, not assigned to the case
OP    the platform operator: agencies and first admins are made with the command line
      (``witnesslink admin …``); there is no operator credential in the HTTP API, so
      every cell is ``-`` (no HTTP surface) and nothing is sent
RV    a staff device that was revoked (its bearer token)
AN    no credentials at all
XS    an expired console session (idle past the limit; its cookie and its CSRF token)
====  =====================================================================================

Credentials per kind of route: on ``/v1/…`` and the other API routes, W, OW, O, SW, FO,
FW, SV, AD and RV send their device's bearer token. On ``/console/…`` routes the staff
actors (O, SW, FO, FW, SV, AD) present a **valid console session** (cookie, and the
session's CSRF token in every POSTed form); W, OW and RV have no console session and
send their bearer token, which the console must not accept. XS sends its cookie on
every route (on the API it must count for nothing).

Outcomes (cells): the exact status code expected.

* 2xx / 3xx: allowed. Console POSTs answer 303 (back to the page); a console request
  without a valid session answers 302 to ``/console/login`` (the console's "401").
* 401 unauthenticated, 403 refused, 404 refused by hiding the resource's existence.
* A domain-level 404/409/422/428 in an allowed row means authorization passed and the
  domain then refused the request as such (e.g. 422: the key object is not validly
  signed — only a real device's keys could sign one; 409: a state that forbids it);
  the same row's refused cells prove the difference. The notes in ``recipes.py`` say why
  a recipe cannot do better.
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
    FOREIGN_OFFICER = "FO"
    FOREIGN_WORKER = "FW"
    SUPERVISOR = "SV"
    ADMIN = "AD"
    OPERATOR = "OP"
    REVOKED = "RV"
    ANONYMOUS = "AN"
    EXPIRED_SESSION = "XS"


#: A cell meaning "this actor cannot make this request at all".
NO_SURFACE = "-"

#: Routes other engineers are adding in parallel; their lines are skipped while the app
#: lacks them. To be deleted when they are merged: every other mismatch fails.
PENDING_MERGE = frozenset(
    {
        ("GET", "/openapi.json"),
        ("GET", "/livez"),
        ("GET", "/readyz"),
        ("GET", "/"),
    }
)

TABLE = """
method  route                                                                W    OW   O    SW   FO   FW   SV   AD   OP   RV   AN   XS
"""


@dataclass(frozen=True, slots=True)
class Row:
    method: str
    route: str
    expected: dict[Actor, str]


def parse(table: str = TABLE) -> list[Row]:
    """The table's rows; raises ValueError on a malformed line or a duplicate route."""
    lines = [line for line in table.strip().splitlines() if line.strip()]
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
