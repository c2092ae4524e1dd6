#!/usr/bin/python3
# multiprocessing peer: process_pool's echo workload on Python's multiprocessing.Pool (what Celery's
# prefork and aiomultiprocess users reach for; aiomultiprocess is not packaged by Debian).
import multiprocessing
import sys
import time


def echo(payload):
    return payload


def metric(name, value):
    print(f"{name:<28} {value:14.1f}", flush=True)


def echo_ns(total):
    """apply_async of a 16-byte echo on 2 worker processes, a window of 1,000 in flight, as
    bench/process.cpp does with process_pool (2 workers)."""
    with multiprocessing.Pool(2) as pool:
        pool.apply(echo, (b"w",))  # both workers up before the clock starts
        pool.apply(echo, (b"w",))
        t0 = time.perf_counter_ns()
        for _ in range(0, total, 1000):
            window = [pool.apply_async(echo, (b"e" * 16,)) for _ in range(1000)]
            for r in window:
                r.get()
        return (time.perf_counter_ns() - t0) / total


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "echo":
        sys.exit("usage: multiprocessing_peer.py echo JOBS")
    metric("process.echo.ns_per_job", echo_ns(int(sys.argv[2])))
