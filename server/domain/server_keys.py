"""The blind-index root: the key material that must survive a sealing-key rotation.

Phone numbers are found by a keyed digest and SMS code words are kept only as keyed
digests (:class:`~server.security.phones.PhoneBook`). Digests of code words cannot be
recomputed — the server never holds the words — so the keys behind them must not
change when the sealing key does. They are derived from a *root* that is recorded once,
sealed, in the ``server_secrets`` table and re-sealed with everything else.

The root is the sealing key in use when a server first runs with this table: exactly
the key the index keys were derived from before rotation existed, so existing indexes
and digests stay valid. Every instance reads the same row, so all of them agree.
"""

from __future__ import annotations

import base64

from server.clock import Clock, to_ms
from server.security.sealing import Sealer
from server.storage.protocols import Store

BLIND_INDEX_ROOT = "blind-index-root"


class IndexRootUnknown(RuntimeError):
    """The root is not recorded yet and the ring already holds several keys, so which
    key the existing indexes were derived from cannot be told."""


async def blind_index_root(store: Store, sealer: Sealer, current_key: bytes, clock: Clock) -> bytes:
    """The recorded root, recording ``current_key`` as the root on first use.

    Raises:
        IndexRootUnknown: nothing recorded and previous keys are configured.
        SealError: the recorded root is sealed under a key missing from the ring.
    """
    async with store.read() as uow:
        sealed = await uow.server_secrets.get(BLIND_INDEX_ROOT)
    if sealed is None:
        if sealer.has_previous_keys:
            raise IndexRootUnknown(
                "the blind-index root is not recorded yet: start this version once with only"
                " the server key that was in use before rotating, then rotate"
            )
        async with store.write() as uow:
            await uow.server_secrets.add_if_absent(
                BLIND_INDEX_ROOT,
                sealer.seal(base64.b64encode(current_key).decode("ascii")),
                to_ms(clock.now()),
            )
            sealed = await uow.server_secrets.get(BLIND_INDEX_ROOT)
        assert sealed is not None
    return base64.b64decode(sealer.open(sealed))
