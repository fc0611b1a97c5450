"""The witnesslink protocol: what the server and every client agree on, byte for byte.

Key objects and their signing payloads, the enrolment code and QR formats, the
end-to-end envelope, check-in answer payloads, and the texts and catalogues that the
server's SMS and the phone's reminders share. Both :mod:`server` and :mod:`client_sdk`
import this package; it imports neither. ``docs/protocol.md`` specifies all of it, with
test vectors, for clients written without this code.
"""
