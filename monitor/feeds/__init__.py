"""Inbound edge: venue adapters (pure) and the connection supervisor (asyncio)."""
