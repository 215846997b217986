#!/usr/bin/env python3
"""asyncio_peer.py - taskring_bench's work, done in CPython asyncio; prints flat JSON on stdout.

Figures (medians of several repetitions; ns unless said):
  create_task_await_ns         create_task + await, per task (batches of 1000)
  create_task_yield_ns         create_task, drop the reference, sleep(0) until all ran, per task
  sleep0_rtt_ns                two tasks ping-pong with asyncio.sleep(0): one round trip
  all_tasks_ns_per_task_<N>    asyncio.all_tasks() with N live tasks (main + N-1 created and not
                               yet started), per task, N = 1, 1000, 100000, 1000000
  rss_pending_bytes_per_task   RSS growth per created-not-started task (the 1M population)
  rss_sleeping_bytes_per_task  RSS growth per task suspended in asyncio.sleep (1M, own process)

asyncio.all_tasks must run on the loop's thread, so unlike taskring's headline figure it is
measured from inside the loop. The populations grow in place (1 -> 1K -> 100K -> 1M) and the
process exits with os._exit once the figures are printed, skipping a million cancellations.
The cyclic GC is disabled while populations are built (not while anything is timed).

Usage: asyncio_peer.py [--quick]      (--quick: fewer repetitions)
"""
import asyncio
import gc
import json
import os
import platform
import statistics
import sys
import time

QUICK = "--quick" in sys.argv[1:]
REPS = 3 if QUICK else 5
BATCH = 1000
SIZES = (1, 1000, 100000, 1000000)
SLEEPERS = 1000000
PAGE = os.sysconf("SC_PAGE_SIZE")
now = time.perf_counter_ns


def log(msg):
    print(f"[asyncio_peer] {msg}", file=sys.stderr, flush=True)


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


async def noop():
    return None


async def park():
    await asyncio.sleep(3600)


def timed_reps(fn, budget_ns):
    """Median over REPS of fn(iterations)/iterations, iterations sized to ~budget_ns."""
    iters = 1
    while True:
        t = fn(iters)
        if t >= budget_ns / 10 or iters >= 1 << 24:
            break
        iters *= 4
    iters = max(1, int(iters * budget_ns / max(t, 1)))
    return statistics.median(fn(iters) / iters for _ in range(REPS))


async def bench_create_await():
    loop = asyncio.get_running_loop()

    async def run(batches):
        t0 = now()
        for _ in range(batches):
            tasks = [loop.create_task(noop()) for _ in range(BATCH)]
            for t in tasks:
                await t
        return now() - t0

    samples = []
    for _ in range(REPS):
        samples.append(await run(200 if not QUICK else 50) / ((200 if not QUICK else 50) * BATCH))
    return statistics.median(samples)


async def bench_create_yield():
    loop = asyncio.get_running_loop()
    done = [0]

    async def count():
        done[0] += 1

    async def run(batches):
        t0 = now()
        spawned = 0
        for _ in range(batches):
            for _ in range(BATCH):
                loop.create_task(count())
            spawned += BATCH
            while done[0] < spawned:
                await asyncio.sleep(0)
        return now() - t0

    samples = []
    for _ in range(REPS):
        done[0] = 0
        b = 200 if not QUICK else 50
        samples.append(await run(b) / (b * BATCH))
    return statistics.median(samples)


async def bench_sleep0_rtt():
    stop = [False]

    async def partner():
        while not stop[0]:
            await asyncio.sleep(0)

    p = asyncio.get_running_loop().create_task(partner())
    await asyncio.sleep(0)
    samples = []
    n = 50000 if QUICK else 200000
    for _ in range(REPS):
        t0 = now()
        for _ in range(n):
            await asyncio.sleep(0)
        samples.append((now() - t0) / n)
    stop[0] = True
    await p
    return statistics.median(samples)


async def bench_all_tasks(out):
    """Grow one population of created-not-started tasks; time all_tasks at each size."""
    loop = asyncio.get_running_loop()
    live = 1  # this task
    keep = []  # strong references, as an application would hold them
    rss0 = rss_bytes()
    for n in SIZES:
        gc.disable()
        while live < n:
            keep.append(loop.create_task(park()))
            live += 1
        gc.enable()
        # Finished tasks of the earlier figures may sit in reference cycles, still in asyncio's
        # WeakSet of tasks, until the cyclic GC frees them: collect so that N is what is walked.
        gc.collect()
        got = len(asyncio.all_tasks())
        if got != n:
            raise RuntimeError(f"all_tasks() returned {got} tasks, expected {n}")

        def call(iters):
            t0 = now()
            for _ in range(iters):
                asyncio.all_tasks()
            return now() - t0

        budget = 100_000_000 if QUICK else 250_000_000
        out[f"all_tasks_ns_per_task_{n}"] = timed_reps(call, budget) / n
        log(f"all_tasks N={n}: {out[f'all_tasks_ns_per_task_{n}']:.1f} ns/task")
    out["rss_pending_bytes_per_task"] = (rss_bytes() - rss0) / (SIZES[-1] - 1)
    out["pending_n"] = SIZES[-1] - 1


async def measure_sleepers():
    loop = asyncio.get_running_loop()
    gc.disable()
    rss0 = rss_bytes()
    tasks = [loop.create_task(park()) for _ in range(SLEEPERS)]
    await asyncio.sleep(0)  # every task starts and parks in asyncio.sleep(3600)
    await asyncio.sleep(0)
    rss1 = rss_bytes()
    if not all(not t.done() for t in tasks[:: max(1, SLEEPERS // 64)]):
        raise RuntimeError("a sleeper finished early")
    return (rss1 - rss0) / SLEEPERS


def sleepers_in_child():
    """RSS per sleeping task, measured in a forked child so the parent's heap stays clean."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            loop = asyncio.new_event_loop()
            value = loop.run_until_complete(measure_sleepers())
            os.write(w, f"{value}".encode())
        except BaseException as e:  # report anything, then leave without teardown
            os.write(w, f"error {e!r}".encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 4096):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    text = data.decode()
    if not text or text.startswith("error"):
        raise RuntimeError(f"sleepers child: {text or 'no output'}")
    return float(text)


async def main(out):
    out["create_task_await_ns"] = await bench_create_await()
    log(f"create_task+await: {out['create_task_await_ns']:.1f} ns/task")
    out["create_task_yield_ns"] = await bench_create_yield()
    log(f"create_task+sleep(0): {out['create_task_yield_ns']:.1f} ns/task")
    out["sleep0_rtt_ns"] = await bench_sleep0_rtt()
    log(f"sleep(0) round trip: {out['sleep0_rtt_ns']:.1f} ns")
    await bench_all_tasks(out)


if __name__ == "__main__":
    t_start = time.monotonic()
    out = {
        "peer": "asyncio",
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "quick": QUICK,
        "reps": REPS,
    }
    # Fork before any population exists: the child measures sleepers on a small heap.
    out["rss_sleeping_bytes_per_task"] = sleepers_in_child()
    out["sleepers_n"] = SLEEPERS
    log(f"RSS per sleeping task: {out['rss_sleeping_bytes_per_task']:.0f} B")
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(main(out))
    out["wall_s"] = time.monotonic() - t_start
    print(json.dumps(out, indent=1), flush=True)
    os._exit(0)  # a million pending tasks: skip their cancellation
