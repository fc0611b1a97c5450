"""The staff web console: server-rendered pages for officers, support workers,
supervisors and admins — caseload, alert inbox, witness pages, administration.

No message content, hearing details or phone numbers ever reach these pages: the
server does not have the first two, and shows the third only as "set / not set".
"""
