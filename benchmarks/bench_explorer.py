"""The explorer's speed and its behaviour under load (issue 14).

    .venv/bin/python benchmarks/bench_explorer.py [--repeats 30] [--requests 2000] [--clients 50] [--no-browser]

1. API latency: the median of uncached ``GET /api/analyze?model=resnet152`` over HTTP on loopback (the
   server caches nothing), next to ``ca.analyze("resnet152").to_json()`` in this process, measured in the
   same run. Target: under 50 ms.
2. Keystroke to numbers, in headless Chromium: a zoo-size net's pattern in the page, one keystroke, and the
   time until its totals and table are in the page (the page records it from the input event), and until
   its diagram is. Targets: 150 ms and the diagrams' budget of 0.5 s.
3. Load: ``--clients`` threads send ``--requests`` requests in all, a mix of valid, fuzzed and hostile
   ones, in ``--rounds`` rounds. Every request must be answered, none with a 5xx, and the server's resident
   memory must stay flat: after the first round has grown the allocator's pools, later rounds add nothing.
   Bounded in count and time, loopback only.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import quote, urlencode

import convarch as ca

SEED = "INPUT -> [[CONV -> RELU]*N -> POOL?]*M -> [FC -> RELU]*K -> FC"


def start_server() -> tuple[subprocess.Popen, int]:
    src = str(Path(ca.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (src, os.environ.get("PYTHONPATH"))))}
    process = subprocess.Popen([sys.executable, "-m", "convarch", "serve", "--port", "0", "--no-browser"],
                               stdout=subprocess.PIPE, text=True, env=env)  # fmt: skip
    line = process.stdout.readline() if process.stdout else ""
    match = re.search(r"127\.0\.0\.1:(\d+)/", line)
    if not match:
        process.kill()
        raise SystemExit(f"convarch serve did not start: {line!r}")
    return process, int(match.group(1))


def request(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if body is not None else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def get(connection: http.client.HTTPConnection, path: str) -> int:
    connection.request("GET", path)
    response = connection.getresponse()
    response.read()
    return response.status


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# ---- 1. API latency -------------------------------------------------------------------------------


def api_latency(port: int, repeats: int) -> None:
    cases = [("analyze", "resnet152"), ("check", "resnet152"), ("analyze", "densenet201"), ("draw", "resnet152")]
    print("| request | median over HTTP (ms) | in-process reference (ms) | ratio |")
    print("|---|---|---|---|")
    for endpoint, model in cases:
        path = f"/api/{endpoint}?{urlencode({'model': model})}"
        # One kept-alive connection, as the page's browser keeps one: the time is the server's, not a TCP
        # handshake's. The first request warms the server's imports, not a cache: it has none.
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        get(connection, path)
        over_http, direct = [], []
        for _ in range(repeats):  # interleaved, so both see the same machine load
            started = time.perf_counter()
            status = get(connection, path)
            over_http.append(time.perf_counter() - started)
            assert status == 200, (path, status)
            started = time.perf_counter()
            if endpoint == "analyze":
                ca.analyze(model).to_json(indent=None)
            elif endpoint == "check":
                ca.check(model)
            else:
                _ = ca.draw(model).svg
            direct.append(time.perf_counter() - started)
        connection.close()
        http_ms, direct_ms = statistics.median(over_http) * 1e3, statistics.median(direct) * 1e3
        print(f"| `GET /api/{endpoint}?model={model}` | {http_ms:.1f} | {direct_ms:.1f} | {http_ms / direct_ms:.2f} |")


# ---- 2. keystroke to numbers in Chromium ----------------------------------------------------------


def keystroke(port: int, repeats: int) -> None:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("(no chromium: keystroke timing skipped)")
        return
    print("| net (pattern text in the page) | layers | numbers after the keystroke, median ms (max) |"
          " diagram after the keystroke, median ms (max) |")  # fmt: skip
    print("|---|---|---|---|")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        for model in ("resnet50", "resnet152", "densenet121"):
            page.goto(f"http://127.0.0.1:{port}/?{urlencode({'pattern': ca.to_pattern(model)}, quote_via=quote)}")
            page.wait_for_function("() => document.body.dataset.diagramMs && document.body.dataset.rendered")
            numbers, diagrams = [], []
            for i in range(repeats):
                done = page.evaluate("() => document.body.dataset.rendered")
                page.locator("#pattern").press("End")
                page.keyboard.type(" " if i % 2 == 0 else "\n")  # whitespace: the same net, analysed afresh
                page.wait_for_function(f"() => document.body.dataset.rendered !== '{done}'")
                page.wait_for_function("() => document.querySelector('#diagram svg')")
                page.wait_for_timeout(600)  # let the diagram arrive before the next keystroke
                numbers.append(float(page.evaluate("() => document.body.dataset.numbersMs")))
                diagrams.append(float(page.evaluate("() => document.body.dataset.diagramMs")))
            rows = len(ca.analyze(model).rows)
            print(f"| {model} | {rows} | {statistics.median(numbers):.0f} ({max(numbers):.0f}) | "
                  f"{statistics.median(diagrams):.0f} ({max(diagrams):.0f}) |")  # fmt: skip
        browser.close()


# ---- 3. load --------------------------------------------------------------------------------------


def valid(rng: random.Random) -> tuple[str, str, bytes | None]:
    kind = rng.choice(["analyze", "check", "variables", "analyze", "draw"])
    if rng.random() < 0.5:
        model = rng.choice(["lenet5", "alexnet", "vgg16", "resnet18", "resnet50", "googlenet", "densenet121"])
        if kind == "draw":
            model = rng.choice(["lenet5", "alexnet", "resnet18"])
        return "GET", f"/api/{kind}?{urlencode({'model': model})}", None
    values = {"N": rng.randint(1, 3), "M": rng.randint(1, 4), "K": rng.randint(0, 2)}
    return "GET", f"/api/{kind}?{urlencode({'pattern': SEED, 'input': '32x32x3', **values})}", None


def fuzzed(rng: random.Random) -> tuple[str, str, bytes | None]:
    text = list(SEED)
    for _ in range(rng.randint(1, 6)):
        position = rng.randrange(len(text) + 1)
        action = rng.random()
        if action < 0.4:
            text.insert(position, rng.choice("[]()*?->|{}:,=#0123456789xXNMK CONVPOOLFC\n\t\\\"'%"))
        elif action < 0.7 and text:
            del text[min(position, len(text) - 1)]
        elif text:
            text[min(position, len(text) - 1)] = chr(rng.randrange(32, 0x3000))
    query = {"pattern": "".join(text), "N": rng.choice(["2", "0", "-1", "x", "99999"]), "M": "2", "K": "1"}
    return "GET", f"/api/{rng.choice(['analyze', 'check', 'draw', 'variables'])}?{urlencode(query)}", None


def hostile(rng: random.Random) -> tuple[str, str, bytes | None]:
    choice = rng.randrange(10)
    if choice == 0:  # longer than the parser's limit, posted
        return "POST", "/api/analyze", urlencode({"pattern": "CONV3-8 -> " * 10_000}).encode()
    if choice == 1:
        return "GET", f"/api/analyze?{urlencode({'pattern': '[' * 500 + 'FC10' + ']' * 500})}", None
    if choice == 2:
        return "GET", f"/api/analyze?{urlencode({'pattern': 'INPUT(32x32x3) -> [CONV3-8]*1000000000'})}", None
    if choice == 3:
        return "GET", f"/api/check?{urlencode({'pattern': 'INPUT(65536x65536x3) -> CONV3-65536 -> FC65536'})}", None
    if choice == 4:
        return "GET", rng.choice(["/../../etc/passwd", "/static/%2e%2e/server.py", "/static/..%2f..%2fapi.py",
                                  "//etc/passwd", "/static/app.js%00"]), None  # fmt: skip
    if choice == 5:
        return "GET", "/api/analyze?pattern=%ff%fe%fd", None
    if choice == 6:
        return "GET", "/api/analyze?" + "&".join(f"v{i}=1" for i in range(500)), None
    if choice == 7:
        return "GET", f"/api/sweep?{urlencode({'pattern': SEED, 'N': '1..10000', 'M': '1..10000', 'K': '0..9'})}", None
    if choice == 8:
        return "GET", "/api/analyze?pattern=" + "A" * 70_000, None
    return "GET", f"/api/compare?{urlencode({'models': ','.join(['vgg16'] * 100)})}", None


def load(port: int, pid: int, total: int, clients: int, rounds: int = 5, seed: int = 0) -> None:
    """``rounds`` rounds of ``total`` requests; memory is flat when the later rounds add nothing."""
    rng = random.Random(seed)
    makers = [valid] * 5 + [fuzzed] * 3 + [hostile] * 2
    work = [rng.choice(makers)(rng) for _ in range(total)]
    for method, path, body in work[:100]:  # warm-up: imports and first-use caches, before the memory baseline
        request(port, method, path, body)
    print(f"server RSS after a warm-up of 100 requests: {rss_mib(pid):.1f} MiB")
    print("| round | requests | clients | seconds | answered | by status | 5xx | no answer | RSS after (MiB) |"
          " peak (MiB) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for round_ in range(1, rounds + 1):
        statuses, failures, elapsed, peak = one_round(port, pid, work, clients)
        answered = sum(statuses.values())
        server_errors = sum(n for status, n in statuses.items() if status >= 500)
        print(f"| {round_} | {total} | {clients} | {elapsed:.1f} | {answered} | {dict(sorted(statuses.items()))} | "
              f"{server_errors} | {len(failures)} | {rss_mib(pid):.1f} | {peak:.1f} |")  # fmt: skip
        for failure in failures[:5]:
            print("  no answer:", failure)
        if answered != total or server_errors or failures:
            raise SystemExit("load test failed: every request must be answered, with no 5xx")


def one_round(port: int, pid: int, work: list, clients: int) -> tuple[Counter[int], list[str], float, float]:
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    peak = [rss_mib(pid)]
    lock = threading.Lock()
    queue = list(work)

    def client() -> None:
        while True:
            with lock:
                if not queue:
                    return
                method, path, body = queue.pop()
            try:
                status, _ = request(port, method, path, body)
            except OSError as error:
                with lock:
                    failures.append(f"{method} {path[:80]}: {error}")
                continue
            with lock:
                statuses[status] += 1

    def sample() -> None:
        while any(t.is_alive() for t in threads):
            peak[0] = max(peak[0], rss_mib(pid))
            time.sleep(0.1)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    sampler = threading.Thread(target=sample)
    sampler.start()
    for thread in threads:
        thread.join(timeout=900)
    sampler.join()
    return statuses, failures, time.perf_counter() - started, peak[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5, help="rounds of --requests each, to see memory settle")
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium keystroke timing")
    parser.add_argument("--only", default="latency,keystroke,load")
    args = parser.parse_args()
    process, port = start_server()
    try:
        only = set(args.only.split(","))
        if "latency" in only:
            api_latency(port, args.repeats)
        if "keystroke" in only and not args.no_browser:
            keystroke(port, min(args.repeats, 15))
        if "load" in only:
            load(port, process.pid, args.requests, args.clients, args.rounds)
    finally:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    main()
