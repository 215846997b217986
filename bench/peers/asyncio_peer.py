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
  queue_pingpong_rtt_ns        two tasks bounce one item over two asyncio.Queue(maxsize=1): one
                               round trip (put, then get of the answer)
  lock_handoff_ns              one asyncio.Lock handed round 4 tasks (main + 3), each looping
                               acquire, release: per handoff
  event_wake_ns_per_waiter     100,000 tasks blocked in Event.wait(); set() and until every
                               waiter has run, per waiter (creating and blocking them untimed)
  gather_ns_per_task           create 100,000 tasks, await asyncio.gather of them, per task
  taskgroup_ns_per_task        async with asyncio.TaskGroup(): 100,000 create_task, per task
                               (null before Python 3.11, which has no TaskGroup)

The issue-8 figures mirror taskring_bench's sync/*, gather/* and group/* benchmarks. Queue
maxsize 1: asyncio has no rendezvous queue (maxsize 0 is unbounded), so maxsize 1 is its
nearest to an unbuffered channel; with one item in flight put never waits.

asyncio.all_tasks must run on the loop's thread, so unlike taskring's headline figure it is
measured from inside the loop. The populations grow in place (1 -> 1K -> 100K -> 1M) and the
process exits with os._exit once the figures are printed, skipping a million cancellations.
The cyclic GC is disabled while populations are built (not while anything is timed).
The sleepers and the issue-8 figures run in forked children, each on a fresh heap.

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
MANY = 100000  # waiters of the Event figure, tasks of the gather and TaskGroup figures
LOCK_TASKS = 4
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


async def bench_queue_pingpong():
    ping, pong = asyncio.Queue(maxsize=1), asyncio.Queue(maxsize=1)
    stop = object()

    async def echo():
        while (item := await ping.get()) is not stop:
            await pong.put(item)

    partner = asyncio.get_running_loop().create_task(echo())
    await asyncio.sleep(0)  # the partner waits in ping.get()
    ball = object()
    n = 10000 if QUICK else 50000
    samples = []
    for _ in range(REPS):
        t0 = now()
        for _ in range(n):
            await ping.put(ball)
            if await pong.get() is not ball:
                raise RuntimeError("queue ping-pong: wrong item")
        samples.append((now() - t0) / n)
    await ping.put(stop)
    await partner
    return statistics.median(samples)


async def bench_lock_handoff():
    """Main holds the lock while the workers start, so each queues in acquire() (FIFO) and
    every release hands the lock to the longest waiter, as in taskring's benchmark."""
    lock = asyncio.Lock()
    await lock.acquire()
    stop = [False]
    acquired = [0]

    async def worker():
        while True:
            await lock.acquire()
            acquired[0] += 1
            s = stop[0]
            lock.release()
            if s:
                return

    loop = asyncio.get_running_loop()
    workers = [loop.create_task(worker()) for _ in range(LOCK_TASKS - 1)]
    await asyncio.sleep(0)  # every worker waits in acquire()
    n = 10000 if QUICK else 50000
    samples = []
    for _ in range(REPS):
        t0 = now()
        for _ in range(n):
            lock.release()  # to the first worker; main queues behind the others
            await lock.acquire()
        samples.append((now() - t0) / (n * LOCK_TASKS))
    stop[0] = True
    lock.release()
    await asyncio.gather(*workers)
    want = (REPS * n + 1) * (LOCK_TASKS - 1)
    if acquired[0] != want:
        raise RuntimeError(f"lock handoff: workers acquired {acquired[0]} times, expected {want}")
    return statistics.median(samples)


async def bench_event_wake():
    loop = asyncio.get_running_loop()
    samples = []
    for _ in range(REPS):
        event = asyncio.Event()
        counts = [0, 0]  # blocked, woken

        async def waiter():
            counts[0] += 1
            await event.wait()
            counts[1] += 1

        gc.disable()
        tasks = [loop.create_task(waiter()) for _ in range(MANY)]
        await asyncio.sleep(0)  # every waiter starts and blocks in event.wait()
        gc.enable()
        if counts != [MANY, 0]:
            raise RuntimeError(f"event: {counts[0]} blocked, {counts[1]} woken before set()")
        t0 = now()
        event.set()
        while counts[1] < MANY:
            await asyncio.sleep(0)
        samples.append((now() - t0) / MANY)
        del tasks
        gc.collect()
    return statistics.median(samples)


async def bench_gather():
    loop = asyncio.get_running_loop()
    samples = []
    for _ in range(REPS):
        t0 = now()
        tasks = [loop.create_task(noop()) for _ in range(MANY)]
        await asyncio.gather(*tasks)
        samples.append((now() - t0) / MANY)
        del tasks
        gc.collect()
    return statistics.median(samples)


async def bench_taskgroup():
    if not hasattr(asyncio, "TaskGroup"):  # Python < 3.11
        return None
    samples = []
    for _ in range(REPS):
        t0 = now()
        async with asyncio.TaskGroup() as tg:
            for _ in range(MANY):
                tg.create_task(noop())
        samples.append((now() - t0) / MANY)
        gc.collect()
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


def in_child(what, coro_fn):
    """Run coro_fn() on a fresh loop in a forked child, so the parent's heap stays clean;
    return its result (anything JSON can carry)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            loop = asyncio.new_event_loop()
            text = json.dumps({"value": loop.run_until_complete(coro_fn())})
        except BaseException as e:  # report anything, then leave without teardown
            text = json.dumps({"error": repr(e)})
        data = text.encode()
        while data:
            data = data[os.write(w, data):]
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 4096):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    reply = json.loads(data.decode() or '{"error": "no output"}')
    if "error" in reply:
        raise RuntimeError(f"{what} child: {reply['error']}")
    return reply["value"]


def sleepers_in_child():
    """RSS per sleeping task, measured in a forked child so the parent's heap stays clean."""
    return float(in_child("sleepers", measure_sleepers))


async def measure_issue8():
    """The synchronisation and many-task figures. Run in their own process: a Python set
    never shrinks, so after 100,000 tasks have come and gone asyncio.all_tasks() would walk
    their empty slots in every later all_tasks figure of the parent."""
    out = {}
    out["queue_pingpong_rtt_ns"] = await bench_queue_pingpong()
    log(f"Queue(maxsize=1) ping-pong round trip: {out['queue_pingpong_rtt_ns']:.1f} ns")
    out["lock_handoff_ns"] = await bench_lock_handoff()
    log(f"Lock handoff among {LOCK_TASKS}: {out['lock_handoff_ns']:.1f} ns")
    out["event_wake_ns_per_waiter"] = await bench_event_wake()
    log(f"Event set, {MANY} waiters: {out['event_wake_ns_per_waiter']:.1f} ns/waiter")
    out["gather_ns_per_task"] = await bench_gather()
    log(f"gather of {MANY}: {out['gather_ns_per_task']:.1f} ns/task")
    out["taskgroup_ns_per_task"] = await bench_taskgroup()
    if out["taskgroup_ns_per_task"] is not None:
        log(f"TaskGroup of {MANY}: {out['taskgroup_ns_per_task']:.1f} ns/task")
    return out


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
    out.update(in_child("issue-8 figures", measure_issue8))
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(main(out))
    out["wall_s"] = time.monotonic() - t_start
    print(json.dumps(out, indent=1), flush=True)
    os._exit(0)  # a million pending tasks: skip their cancellation
