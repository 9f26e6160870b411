from leadsla import PostgresStore, simulate


def test_smoke(postgres_db: str) -> None:
    events = simulate(leads=20, seed=1)
    with PostgresStore(postgres_db, partitions=4) as store:
        effects = store.apply_many(events[:50])
        for e in events[50:]:
            effects += store.apply(e)
        print(len(effects), len(store), store.inputs, store.outbox_counts())
    with PostgresStore(postgres_db) as again:
        print(len(again), again.partitions)
