"""perftiers: product-performance tiers for e-commerce brands.

sources -> sync -> lakehouse -> refresh -> query -> api / web
"""

__version__ = "0.1.0"
