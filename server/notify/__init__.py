"""Notification delivery: Twilio SMS (``sms``) and Twilio webhook checks (``webhooks``)."""
