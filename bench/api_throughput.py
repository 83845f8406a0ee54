"""Throughput of `GET /api/v1/customers/{uuid}` with 16 concurrent clients.

    .venv/bin/python bench/api_throughput.py [--db clientbook_bench] [--seconds 20]

Starts bench/serve.py (a threaded WSGI server) on the generated database,
makes an API token for the demo administrator through `api_token_create`,
then runs N client threads (httpx) that each fetch random customers for the
given time. Prints requests per second and latency p50 / p99, and writes
bench/out/api_throughput-*.json. Needs the `bench` extra (httpx).
"""

import argparse
import datetime as dt
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent


def main() -> None:
    args = _args()
    url = f"postgres://postgres@127.0.0.1:5432/{args.db}"
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clientbook.settings")
    import django

    django.setup()
    key, uuids = _token_and_sample(args.samples)
    server = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "serve.py"),
            "--port",
            str(args.port),
            "--threads",
            str(args.server_threads),
        ],
        env={**os.environ, "DATABASE_URL": url},
    )
    try:
        _wait_for_port(args.port)
        base = f"http://127.0.0.1:{args.port}/api/v1/customers/"
        _run(base, key, uuids[:50], 2, 3.0)  # warm up connections and caches
        result = _run(base, key, uuids, args.clients, args.seconds)
    finally:
        server.terminate()
        server.wait(10)
    report = {
        "database": args.db,
        "clients": args.clients,
        "server_threads": args.server_threads,
        "seconds": args.seconds,
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **result,
    }
    print(json.dumps(report, indent=2))
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    (out / f"api_throughput-{args.db}.json").write_text(json.dumps(report, indent=2))


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", default="clientbook_bench")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--server-threads", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--port", type=int, default=8099)
    return parser.parse_args()


def _token_and_sample(size: int) -> tuple[str, list[str]]:
    from clientbook.customers.models import Customer
    from clientbook.org.models import User
    from clientbook.org.services import api_token_create

    user = User.objects.get(username="demo")
    _token, key = api_token_create(user=user, name="benchmark")
    top = Customer.objects.order_by("-id").values_list("id", flat=True).first()
    rng = random.Random(2)
    ids = [rng.randint(1, top) for _ in range(size)]
    uuids = [
        str(u)
        for u in Customer.objects.filter(id__in=ids).values_list("uuid", flat=True)
    ]
    return key, uuids


def _wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"the server did not start on port {port}")


def _run(base: str, key: str, uuids: list[str], clients: int, seconds: float) -> dict:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(number: int) -> None:
        rng = random.Random(number)
        mine, codes = [], {}
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(headers=headers, timeout=30) as http:
            while time.monotonic() < stop:
                started = time.perf_counter()
                response = http.get(base + rng.choice(uuids))
                mine.append(time.perf_counter() - started)
                codes[response.status_code] = codes.get(response.status_code, 0) + 1
        with lock:
            latencies.extend(mine)
            for code, count in codes.items():
                statuses[code] = statuses.get(code, 0) + count

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "requests_per_second": round(len(latencies) / elapsed, 1),
        "latency_ms": {
            "p50": round(statistics.median(latencies) * 1000, 2),
            "p99": round(latencies[int(0.99 * (len(latencies) - 1))] * 1000, 2),
            "max": round(latencies[-1] * 1000, 2),
        },
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }


if __name__ == "__main__":
    main()
