"""Outbound edge: MQTT, webhook, and the on-disk outbox that keeps alerts until delivered."""
