#!/usr/bin/python3
# eventlet peer: the spawn and yield workloads on eventlet's GreenPool (Debian's python3-eventlet).
import sys
import time

import eventlet


def metric(name, value):
    print(f"{name:<28} {value:14.1f}", flush=True)


def spawn(total):
    """GreenPool.spawn() no-op jobs in batches of 1,000, waitall() after each batch."""
    pool = eventlet.GreenPool(size=100_000)  # as fiberpool's limit: no spawn waits for a slot
    t0 = time.perf_counter_ns()
    for _ in range(0, total, 1000):
        for _ in range(1000):
            pool.spawn(lambda: None)
        pool.waitall()
    return (time.perf_counter_ns() - t0) / total


def yield_(rounds):
    """Two greenthreads switching with eventlet.sleep(0), eventlet's yield."""
    def body():
        for _ in range(rounds):
            eventlet.sleep(0)
    pool = eventlet.GreenPool()
    t0 = time.perf_counter_ns()
    pool.spawn(body)
    pool.spawn(body)
    pool.waitall()
    return (time.perf_counter_ns() - t0) / (2 * rounds)


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: eventlet_peer.py spawn|yield N")
    what, n = sys.argv[1], int(sys.argv[2])
    if what == "spawn":
        metric("spawn.t1.ns_per_job", spawn(n))
    elif what == "yield":
        metric("yield.ns_per_switch", yield_(n))
    else:
        sys.exit(2)


if __name__ == "__main__":
    main()
