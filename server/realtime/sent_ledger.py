"""Which ids (message copies, or stored events) one connection must not send again.

A connection sends a copy once and then waits for the device's acknowledgement. The
trap is a read of pending copies from the database that overlaps an acknowledgement:
the read's snapshot may predate the acknowledgement's commit and still list the copy,
after the acknowledgement has taken the copy off the connection's "sent, unacknowledged"
list. On PostgreSQL with two instances (where another instance's note starts such reads
often) that pushed about 1 copy in 40 twice.

So an acknowledgement that arrives while a read is running is remembered until that
read is over. Reads on one connection run one after another, and acknowledgements are
reported only after they commit, so a read that starts afterwards no longer sees those
copies as pending: the memory can be dropped when the read ends, and stays bounded by
what is acknowledged during one read.
"""

from __future__ import annotations

from collections.abc import Iterable


class SentLedger:
    """Ids sent on one connection and not to be sent on it again."""

    def __init__(self) -> None:
        self._unacknowledged: set[int] = set()
        self._acknowledged_during_read: set[int] = set()
        self._reading = False

    def __contains__(self, item_id: int) -> bool:
        """Whether sending ``item_id`` now would send it twice."""
        return item_id in self._unacknowledged or item_id in self._acknowledged_during_read

    def sent(self, item_id: int) -> None:
        self._unacknowledged.add(item_id)

    def acknowledged(self, item_ids: Iterable[int]) -> None:
        """The device acknowledged these ids, and the acknowledgement has committed."""
        self._unacknowledged.difference_update(item_ids)
        if self._reading:
            self._acknowledged_during_read.update(item_ids)

    def read_started(self) -> None:
        """A read of pending ids from the database begins (its snapshot may be older
        than acknowledgements reported from now on)."""
        self._reading = True

    def read_finished(self) -> None:
        self._reading = False
        self._acknowledged_during_read.clear()
