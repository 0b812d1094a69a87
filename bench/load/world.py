"""Registers the load test's chains and stores with intake (its admin code, the same the
`shopwatch admin` commands call), straight into the benchmark's intake database."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pymongo import AsyncMongoClient

from bench.load.mix import Store, StorePlan
from shopwatch.intake.adapters.mongo_tenants import MongoTenants
from shopwatch.intake.admin import IntakeAdmin


@dataclass
class Chain:
    number: int
    api_key: str
    stores: list[Store] = field(default_factory=list)


async def provision(mongo_url: str, database: str, plans: list[StorePlan]) -> list[Chain]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, tz_aware=True)
    chains: dict[int, tuple[Chain, str]] = {}
    try:
        tenants = MongoTenants(client[database])
        await tenants.ensure_indexes()
        admin = IntakeAdmin(tenants)
        for plan in plans:
            if plan.chain not in chains:
                retailer, key = await admin.add_retailer(f"Bench Chain {plan.chain + 1}")
                chains[plan.chain] = (Chain(plan.chain, key.api_key), retailer.retailer_id)
            chain, retailer_id = chains[plan.chain]
            store = await admin.add_store(
                retailer_id,
                name=plan.name,
                address_lines=[f"{plan.index + 1} High Street"],
                town=plan.town,
                postcode=plan.postcode,
            )
            chain.stores.append(Store(store.store_id, plan.chain, plan.force))
    finally:
        await client.close()
    return [chain for chain, _ in chains.values()]
