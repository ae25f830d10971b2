"""The analytics store (Ibis): canonical tables, bulk loads, upserts, load records."""

from abmkit.warehouse.engine import Warehouse, open_warehouse

__all__ = ["Warehouse", "open_warehouse"]
