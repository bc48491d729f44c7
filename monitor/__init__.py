"""liqmon: streaming monitor for liquidation-cascade risk on crypto perpetual futures."""

__version__ = "0.1.0"
