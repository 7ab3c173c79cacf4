"""The store: what jobbot must remember across restarts (jobs seen, the notice ledger, subscriptions,
watches, who cancelled what). One interface by role; the queries written once; one module per engine."""

from __future__ import annotations

from jobbot.store.base import (
    Card,
    CardJob,
    CardState,
    Delivery,
    DeliveryState,
    FollowUp,
    FollowUpKind,
    FollowUpRow,
    FollowUpState,
    NoticeRow,
    TrackedJob,
)
from jobbot.store.open import SchemaState, open_store, read_schema
from jobbot.store.roles import (
    AuditTrail,
    CancelClaims,
    CancelStore,
    CommandStore,
    JobTracking,
    Lease,
    LiveCards,
    NoticeLedger,
    NotifierStore,
    Store,
    Subscriptions,
)

__all__ = [
    "AuditTrail",
    "CancelClaims",
    "CancelStore",
    "Card",
    "CardJob",
    "CardState",
    "CommandStore",
    "Delivery",
    "DeliveryState",
    "FollowUp",
    "FollowUpKind",
    "FollowUpRow",
    "FollowUpState",
    "JobTracking",
    "Lease",
    "LiveCards",
    "NoticeLedger",
    "NoticeRow",
    "NotifierStore",
    "SchemaState",
    "Store",
    "Subscriptions",
    "TrackedJob",
    "open_store",
    "read_schema",
]
