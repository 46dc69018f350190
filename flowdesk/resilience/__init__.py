"""Fault tolerance for outbound calls: retries with backoff and jitter, circuit breakers.

Start at `guard_for(dependency)`; `guard.py` explains how the parts combine.
"""

from flowdesk.resilience.breaker import (
    BreakerSnapshot,
    BreakerState,
    BreakerStore,
    BreakerStoreUnavailable,
    CircuitBreaker,
)
from flowdesk.resilience.fallback import FallbackBreakerStore
from flowdesk.resilience.guard import (
    OutboundCall,
    OutboundGuard,
    breaker_states,
    guard_for,
    store_for,
)
from flowdesk.resilience.memory_store import MemoryBreakerStore
from flowdesk.resilience.redis_store import RedisBreakerStore
from flowdesk.resilience.retry import RetryableError, RetryPolicy, is_retryable, retry_call

__all__ = [
    "BreakerSnapshot",
    "BreakerState",
    "BreakerStore",
    "BreakerStoreUnavailable",
    "CircuitBreaker",
    "FallbackBreakerStore",
    "MemoryBreakerStore",
    "OutboundCall",
    "OutboundGuard",
    "RedisBreakerStore",
    "RetryPolicy",
    "RetryableError",
    "breaker_states",
    "guard_for",
    "is_retryable",
    "retry_call",
    "store_for",
]
