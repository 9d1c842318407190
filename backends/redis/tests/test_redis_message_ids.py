"""Message ids: UUID version 7, unique and in send order, one at a time or a batch at once."""

from __future__ import annotations

import uuid

from qworker_redis.codec import MessageIds


def test_ids_one_at_a_time_and_in_batches_are_version_7_unique_and_ordered() -> None:
    ids = MessageIds()
    made: list[str] = []
    for i in range(2000):
        made += ids.many(10) if i % 2 else [ids.next()]
    made += ids.many(1000)  # more random bytes than one buffer refill holds
    parsed = [uuid.UUID(value) for value in made]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in parsed)
    assert [str(u) for u in parsed] == made  # the canonical spelling
    assert made == sorted(made)
    assert len(set(made)) == len(made)


def test_the_random_part_differs_between_ids_of_one_millisecond() -> None:
    made = MessageIds().many(100)
    assert len({value[-12:] for value in made}) == len(made)
