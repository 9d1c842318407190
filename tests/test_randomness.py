"""qworker.randomness: buffered os.urandom bytes, each handed out once, never shared with a fork."""

from __future__ import annotations

import os
import threading

from qworker import randomness


def test_bytes_are_never_handed_out_twice_across_refills() -> None:
    seen = {randomness.take(16) for _ in range(3 * randomness.CHUNK // 16)}
    assert len(seen) == 3 * randomness.CHUNK // 16
    assert all(len(value) == 16 for value in seen)


def test_sizes_that_do_not_divide_the_chunk() -> None:
    values = [randomness.take(size) for size in (8, 16, 7, 4096, 1) * 50]
    assert [len(v) for v in values] == [8, 16, 7, 4096, 1] * 50
    assert len({v for v in values if len(v) >= 7}) == len([v for v in values if len(v) >= 7])


def test_threads_get_distinct_bytes() -> None:
    found: list[bytes] = []

    def draw() -> None:
        found.extend(randomness.take(8) for _ in range(2000))

    threads = [threading.Thread(target=draw) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(found)) == len(found) == 8000


def test_a_forked_child_does_not_repeat_the_parents_bytes() -> None:
    randomness.take(8)  # a buffer the child would inherit
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next bytes, to the parent
        os.close(read)
        os.write(write, randomness.take(64))
        os._exit(0)
    os.close(write)
    child = os.read(read, 64)
    os.close(read)
    os.waitpid(pid, 0)
    parent = randomness.take(64)
    assert len(child) == 64
    assert child != parent


def test_a_size_over_the_chunk_is_read_whole() -> None:
    big = randomness.take(3 * randomness.CHUNK + 5)
    assert len(big) == 3 * randomness.CHUNK + 5
    assert big != randomness.take(3 * randomness.CHUNK + 5)
