"""The store: what jobbot must remember across restarts (jobs seen, the notice ledger, subscriptions,
watches, who cancelled what). One interface; one module per database engine."""

from __future__ import annotations

from jobbot.store.base import Delivery, DeliveryState, NoticeRow, TrackedJob
from jobbot.store.open import open_store
from jobbot.store.roles import Store

__all__ = ["Delivery", "DeliveryState", "NoticeRow", "Store", "TrackedJob", "open_store"]
