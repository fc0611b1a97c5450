"""The answers texted back to a staff member's SMS reply.

Short, and naming no witness, case, agency or alert kind: others may read the phone.
English only for now (staff alert SMS are translated through the shared catalogue;
these answers are not yet).
"""

from __future__ import annotations

from twilio.twiml.messaging_response import MessagingResponse

from server.domain.welfare.sms_replies import ReplyOutcome, ReplyResult


def reply_text(result: ReplyResult) -> str | None:
    """The answer to ``result``; None when nothing may be sent (a replayed webhook)."""
    if result.outcome is ReplyOutcome.ACKNOWLEDGED:
        count = result.acknowledged
        noun = "alert" if count == 1 else "alerts"
        return f"witnesslink: Ref {result.reference} acknowledged ({count} {noun}). Thank you."
    if result.outcome is ReplyOutcome.ALREADY_ACKNOWLEDGED:
        return f"witnesslink: Ref {result.reference} was already acknowledged."
    if result.outcome is ReplyOutcome.NOT_RECOGNISED:
        return "witnesslink: nothing to acknowledge under that reference from this number."
    return None


def reply_twiml(result: ReplyResult | None) -> str | None:
    """TwiML answering with one message; None when nothing is to be answered."""
    text = None if result is None else reply_text(result)
    if text is None:
        return None
    response = MessagingResponse()
    response.message(text)
    return str(response.to_xml(xml_declaration=True))
