"""Signed inbound webhooks: order systems push orders to siyu over HMAC-signed HTTP."""
