"""The store: what jobbot must remember across restarts (jobs seen, the notice ledger, subscriptions,
watches, who cancelled what). One interface by role; the queries written once; one module per engine."""

from __future__ import annotations

from jobbot.store.base import Delivery, DeliveryState, NoticeRow, TrackedJob
from jobbot.store.open import open_store
from jobbot.store.roles import (
    AuditTrail,
    CancelClaims,
    CancelStore,
    CommandStore,
    JobTracking,
    Lease,
    NoticeLedger,
    NotifierStore,
    Store,
    Subscriptions,
)

__all__ = [
    "AuditTrail",
    "CancelClaims",
    "CancelStore",
    "CommandStore",
    "Delivery",
    "DeliveryState",
    "JobTracking",
    "Lease",
    "NoticeLedger",
    "NoticeRow",
    "NotifierStore",
    "Store",
    "Subscriptions",
    "TrackedJob",
    "open_store",
]
