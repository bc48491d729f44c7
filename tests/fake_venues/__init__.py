"""Scripts for the local fake venue WebSocket servers: one module per venue protocol."""
