"""Welfare: check-in plans, prompts and responses, lapses, alerts and escalation."""
