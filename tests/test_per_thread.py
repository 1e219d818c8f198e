"""signaling.per_thread: one object per thread, built once, all closed together."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from signaling.per_thread import PerThread


class Graph:
    def __init__(self) -> None:
        self.thread = threading.get_ident()
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_each_thread_builds_its_own_once_and_close_closes_every_one() -> None:
    built: list[Graph] = []

    def make() -> Graph:
        built.append(Graph())
        return built[-1]

    graphs = PerThread(make, Graph.close)
    barrier = threading.Barrier(3)

    def use(_: int) -> tuple[Graph, Graph]:
        barrier.wait()  # all three threads are up: none serves two of these uses
        return graphs.get(), graphs.get()

    with ThreadPoolExecutor(3) as pool:
        pairs = list(pool.map(use, range(3)))
    assert all(a is b for a, b in pairs)  # built once per thread
    assert len(built) == 3 and len({g.thread for g in built}) == 3
    assert graphs.get().thread == threading.get_ident()  # and this thread's own
    graphs.close()
    assert len(built) == 4 and all(g.closed for g in built)
    graphs.close()  # closing again closes nothing twice


def test_objects_without_resources_need_no_closer() -> None:
    values = PerThread(object)
    assert values.get() is values.get()
    values.close()
