"""How many sign-in attempts to admit, without letting anyone lock the owner out.

Four token buckets, each shared by every instance (rows in the database):

* per network address — bounds one address guessing across many accounts;
* per (account, address) — strict: one address guessing one account;
* per account, for clients without a known-client proof — bounds guessing one account
  from many addresses (a botnet); it is generous enough that one address's failures
  (stopped by the bucket above) leave room for the owner elsewhere;
* per known-client proof, instead of the per-account bucket — a client that signed in
  to this account before (:mod:`server.security.known_clients`) is never refused because
  of failures elsewhere, and a stolen proof is limited on its own.

So failures at one address never refuse the owner at another, and failures from many
addresses never refuse the owner on a client they signed in with before. Every attempt
spends tokens, right or wrong: a guesser learns nothing from which attempts are counted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from server.errors import RateLimited
from server.security.known_clients import KnownClientProofs
from server.security.ratelimit import Limiter, Rate

#: The limits (capacity, refill). An hour of guessing at one account is bounded by
#: ``capacity + 3600 / refill_s`` of the account bucket for unknown clients (70), of
#: each proof's bucket for a stolen proof (65), and of each (account, address) bucket.
BY_ADDRESS = Rate(capacity=20, refill_s=6)
BY_ACCOUNT_AT_ADDRESS = Rate(capacity=5, refill_s=60)
BY_ACCOUNT = Rate(capacity=10, refill_s=60)
BY_KNOWN_CLIENT = Rate(capacity=5, refill_s=60)


@dataclass(frozen=True, slots=True)
class LoginLimiters:
    """One limiter per bucket kind (see the module docstring)."""

    by_address: Limiter
    by_account_at_address: Limiter
    by_account: Limiter
    by_known_client: Limiter


def login_limiters(limiter: Callable[[str, Rate], Limiter]) -> LoginLimiters:
    """The four limiters, each made by ``limiter(scope, rate)`` (shared ones in a
    server: see :mod:`server.security.shared_ratelimit`)."""
    return LoginLimiters(
        by_address=limiter("login.address", BY_ADDRESS),
        by_account_at_address=limiter("login.account-address", BY_ACCOUNT_AT_ADDRESS),
        by_account=limiter("login.account", BY_ACCOUNT),
        by_known_client=limiter("login.known-client", BY_KNOWN_CLIENT),
    )


class LoginThrottle:
    """Admits or refuses one sign-in attempt before its password is checked."""

    def __init__(self, limiters: LoginLimiters, proofs: KnownClientProofs) -> None:
        self._limiters = limiters
        self._proofs = proofs

    def issue_proof(self, username: str) -> str:
        """A known-client proof for a client that just signed in to ``username``."""
        return self._proofs.issue(username)

    async def admit(
        self,
        username: str,
        address: str,
        known_client: str | None,
        on_throttled: Callable[[str], Awaitable[None]],
    ) -> None:
        """Spend one attempt from each bucket that applies. When a bucket starts a run
        of refusals, ``on_throttled`` is told which kind it is (``address``,
        ``username-address``, ``username`` or ``known-client``), for the audit log.

        Raises:
            RateLimited: a bucket is empty.
        """
        nonce = self._proofs.nonce_if_valid(known_client, username)
        checks: list[tuple[Limiter, str, str]] = [
            (self._limiters.by_address, "address", address),
            (self._limiters.by_account_at_address, "username-address", f"{username}\0{address}"),
        ]
        if nonce is None:
            checks.append((self._limiters.by_account, "username", username))
        else:
            checks.append((self._limiters.by_known_client, "known-client", nonce))
        for limiter, kind, key in checks:
            try:
                await limiter.take(key)
            except RateLimited as refused:
                if refused.first_refusal:
                    await on_throttled(kind)
                raise
