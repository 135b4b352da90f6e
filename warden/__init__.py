"""Warden: incident triage where AI proposes, policy disposes, a human approves."""
