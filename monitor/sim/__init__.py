"""SIMULATED venues: local WebSocket + REST servers that play scripted markets.

Not real data. `liqmon demo` runs the real daemon against them, and the test suite uses
the same servers (tests/venue_server.py, tests/fake_venues/cascade.py re-export them).
Everything binds 127.0.0.1 only.
"""
