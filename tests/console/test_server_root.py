"""The server's bare address leads a person to the staff console."""

from __future__ import annotations

import aiohttp

from tests.support.world import World


async def test_the_root_address_redirects_to_the_console_sign_in(world: World) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(world.url + "/", allow_redirects=False) as response:
            assert response.status == 303
            assert response.headers["Location"] == "/console/"
        async with http.get(world.url + "/") as followed:
            assert followed.status == 200
            assert followed.url.path == "/console/login"
            assert "text/html" in followed.headers["Content-Type"]
        async with http.post(world.url + "/", allow_redirects=False) as response:
            assert response.status == 405
