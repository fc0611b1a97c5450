"""The server's half of the witness phone's PIN: a guess-limited, erasable OPRF key.

See :mod:`server.domain.unlock.service` and ``docs/protocol.md`` (§16).
"""
