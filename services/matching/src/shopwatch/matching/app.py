"""Matching's wiring: the profile store, the in-memory matcher, the consumer, the outbox."""

from __future__ import annotations

from shopwatch.matching.adapters.mongo import MongoMatching
from shopwatch.matching.config import MatchingSettings
from shopwatch.matching.consumers import on_link_decided, on_matching_requested
from shopwatch.matching.prolific import ProlificRule
from shopwatch.matching.service import MatchingService
from shopwatch.runtime.service_main import Service
from shopwatch.schemas.topics import MATCHING_LINK_DECIDED, MATCHING_REQUESTED


def wire(service: Service[MatchingSettings]) -> None:
    settings = service.settings
    store = MongoMatching(service.db)
    matching = MatchingService(
        store=store,
        topic=settings.topic,
        announce=lambda doc_id: service.notify_outbox(store.results, doc_id),
        rule=ProlificRule(
            min_reports=settings.prolific_min_reports,
            window_days=settings.prolific_window_days,
            min_stores=settings.prolific_min_stores,
        ),
    )
    service.on_startup(matching.load)
    service.outbox(store.results)
    service.consume(MATCHING_REQUESTED, on_matching_requested, matching)
    service.consume(MATCHING_LINK_DECIDED, on_link_decided, matching)
