"""Pure numeric core: plain values in, plain values out; no I/O, no asyncio, no clocks."""
