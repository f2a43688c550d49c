"""The append-only event log: what happened to whom, when; journeys and webhooks consume it."""
