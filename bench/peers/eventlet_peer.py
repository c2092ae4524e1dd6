#!/usr/bin/python3
# eventlet peer: the spawn and yield workloads on eventlet's GreenPool, and an echo server with a
# green thread per connection (Debian's python3-eventlet).
import os
import resource
import socket
import sys
import threading
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


def echo_server(port):
    """Listens on 127.0.0.1:port (0: any), prints "port N", echoes every connection on its own
    green thread, and exits when stdin closes (bench/compare's way to stop every server)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # thousands of connections
    listener = eventlet.listen(("127.0.0.1", port), backlog=4096)
    print(f"port {listener.getsockname()[1]}", flush=True)
    # A real thread (nothing is monkey-patched): a blocking read of stdin must not stop the hub.
    threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()

    def serve(conn):
        with conn:
            while True:
                data = conn.recv(4096)
                if not data:
                    return
                conn.sendall(data)

    pool = eventlet.GreenPool(size=1_000_000)  # as fiberpool's limit: no connection waits
    while True:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as Go and fiberpool do
        pool.spawn_n(serve, conn)


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "echo_server":
        echo_server(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
        return
    if len(sys.argv) < 3:
        sys.exit("usage: eventlet_peer.py spawn|yield N\n       eventlet_peer.py echo_server [PORT]")
    what, n = sys.argv[1], int(sys.argv[2])
    if what == "spawn":
        metric("spawn.t1.ns_per_job", spawn(n))
    elif what == "yield":
        metric("yield.ns_per_switch", yield_(n))
    else:
        sys.exit(2)


if __name__ == "__main__":
    main()
