"""The authorization matrix, walked: every route of the app by every actor, on SQLite and
PostgreSQL, in one seeded world per backend.

The table (``matrix.py``) must name exactly the app's routes; each cell's status must be
the expected one. A failure lists every differing cell at once.
"""

from __future__ import annotations

from aiohttp import web

from tests.authz.matrix import TABLE, Actor, parse
from tests.authz.recipes import RECIPES
from tests.authz.walker import walk
from tests.authz.world import build_authz_world
from tests.support.world import World


def app_routes(app: web.Application) -> set[tuple[str, str]]:
    """(method, template) of every route; HEAD routes aiohttp adds beside each GET are
    answered by the GET's handler and are covered by its row."""
    found: set[tuple[str, str]] = set()
    gets = {
        (route.resource.canonical, route.handler)
        for route in app.router.routes()
        if route.method == "GET" and route.resource is not None
    }
    for route in app.router.routes():
        assert route.resource is not None
        template = route.resource.canonical
        if route.method == "HEAD" and (template, route.handler) in gets:
            continue
        found.add((route.method, template))
    return found


def test_the_table_is_well_formed_and_every_row_has_a_recipe() -> None:
    rows = parse(TABLE)
    in_table = {(row.method, row.route) for row in rows}
    assert sorted(in_table - set(RECIPES)) == [], "rows without a recipe"
    assert sorted(set(RECIPES) - in_table) == [], "recipes for routes not in the table"
    for row in rows:
        assert row.expected[Actor.OPERATOR] == "-", "the operator has no HTTP surface"


async def test_every_route_answers_every_actor_as_the_matrix_says(world: World) -> None:
    rows = parse(TABLE)
    in_table = {(row.method, row.route) for row in rows}
    in_app = app_routes(world.app)
    assert sorted(in_app - in_table) == [], "routes missing from the authorization matrix"
    assert sorted(in_table - in_app) == [], "matrix rows for routes the app lacks"

    aw = await build_authz_world(world)
    walked = [row for row in rows if (row.method, row.route) in in_app]
    actual = await walk(aw, walked)
    wrong = [
        f"{row.method} {row.route} as {actor.value}: expected {expected}, got {got}"
        for row in walked
        for actor, expected in row.expected.items()
        if (got := actual[(row.method, row.route)][actor]) != expected
    ]
    assert wrong == [], "\n".join(wrong)
