"""Process limits a server holding many WebSockets needs.

Every connected phone holds a socket, and every socket is a file descriptor. The usual
soft limit (1,024) would refuse connections long before the server runs out of
anything real; the hard limit set by the operator (``ulimit -Hn``, systemd's
``LimitNOFILE``) is what the deployment means. So ``serve`` raises its soft limit to the
hard limit at start.
"""

from __future__ import annotations

import logging
import sys

log = logging.getLogger(__name__)


def raise_open_file_limit() -> int | None:
    """Raise the soft limit on open files to the hard limit; returns the limit now in
    force, or None where the platform has no such limit (Windows)."""
    if sys.platform == "win32":
        return None
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            log.warning("could not raise the open-file limit from %d to %d", soft, hard)
            return soft
        return hard
    return soft
