"""prometheus probe against a real Prometheus on 127.0.0.1, scraping a gauge the test sets.

The Prometheus is the real server (Debian's `prometheus`, on PATH here and in CI) with a
temporary config and store; its one target is a tiny /metrics endpoint in a thread, whose values
the tests flip, so the probe's verdict flips as Prometheus scrapes them. What a real Prometheus
cannot be made to do on demand (answer through a broken proxy, time out a query) is served by a
double speaking its HTTP API, and the parsing of every result shape is tested on its own.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from detector.config.loader import ConfigError, parse_config
from probes.base import Result
from probes.errors import ProbeFailure
from probes.prometheus import Threshold, evaluate
from tests.probes.conftest import Run, unused_port

needs_prometheus = pytest.mark.skipif(
    shutil.which("prometheus") is None,
    reason="prometheus is not on PATH (CI installs the Debian package `prometheus`)",
)
SCRAPE = "100ms"
WAIT = 30.0  # seconds: Prometheus applies new targets at most every 5 s, then scrapes at SCRAPE


class Gauges:
    """The target's /metrics: `failing` and one `error_ratio` per service, set by the tests."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.failing = 0.0
        self.ratio = {"api": 0.01, "web": 0.02}

    def text(self) -> bytes:
        with self.lock:
            lines = [
                "# HELP outage_test_failing 1 while the test says the service is failing",
                "# TYPE outage_test_failing gauge",
                f"outage_test_failing {self.failing}",
                "# HELP outage_test_error_ratio errors per request",
                "# TYPE outage_test_error_ratio gauge",
                *(f'outage_test_error_ratio{{service="{s}"}} {v}' for s, v in self.ratio.items()),
            ]
        return ("\n".join(lines) + "\n").encode()


class Prometheus:
    def __init__(self, url: str, gauges: Gauges) -> None:
        self.url = url
        self.gauges = gauges


def _target(gauges: Gauges) -> ThreadingHTTPServer:
    class Metrics(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = gauges.text()
            self.send_response(200 if self.path == "/metrics" else 404)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_a: Any) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", 0), Metrics)


def _ready(url: str, proc: subprocess.Popen[bytes], deadline: float) -> bool:
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as resp:
                if resp.status == 200:
                    return True
        except OSError:
            time.sleep(0.1)
    return False


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    gauges = Gauges()
    target = _target(gauges)
    thread = threading.Thread(target=target.serve_forever, daemon=True)
    thread.start()
    tmp = tmp_path_factory.mktemp("prometheus")
    config = tmp / "prometheus.yml"
    config.write_text(
        f"global: {{scrape_interval: {SCRAPE}, scrape_timeout: {SCRAPE}}}\n"
        "scrape_configs:\n"
        "  - job_name: target\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{target.server_address[1]}']}}]\n"
    )
    proc: subprocess.Popen[bytes] | None = None
    last: list[str] = []
    try:
        for attempt in range(3):  # a port found free can be taken before Prometheus binds it
            url = f"http://127.0.0.1:{unused_port()}"
            proc = subprocess.Popen(
                [
                    "prometheus",
                    f"--config.file={config}",
                    f"--storage.tsdb.path={tmp / f'data{attempt}'}",
                    f"--web.listen-address={url.removeprefix('http://')}",
                    "--log.level=warn",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            if _ready(url, proc, time.monotonic() + WAIT):
                break
            proc.kill()
            _out, err = proc.communicate()
            proc = None
            last = err.decode(errors="replace").strip().splitlines()[-1:]
        else:
            pytest.fail(f"Prometheus did not start: {last}")
        yield Prometheus(url, gauges)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            assert proc.stderr is not None
            proc.stderr.close()
        target.shutdown()
        target.server_close()


async def until(
    run: Run, spec: dict[str, Any], done: Callable[[Result], bool], what: str
) -> Result:
    """Run the probe until `done(result)`: Prometheus sees a change at its next scrape."""
    deadline = time.monotonic() + WAIT
    r = await run("prometheus", spec)
    while not done(r):
        assert time.monotonic() < deadline, f"{what}: still {r} after {WAIT:.0f} s"
        await asyncio.sleep(0.1)
        r = await run("prometheus", spec)
    return r


def _scraped(prom: Prometheus) -> Callable[[Run], Awaitable[Result]]:
    """Wait for Prometheus' first scrape of the target (the query's answer would be empty
    before it, for the wrong reason)."""

    async def wait(run: Run) -> Result:
        spec = {"url": prom.url, "query": 'up{job="target"}', "threshold": {"below": 1}}
        return await until(run, spec, lambda r: r.detail.startswith("1 series, none"), "scrape")

    return wait


@needs_prometheus
async def test_fails_and_recovers_against_a_real_prometheus(
    run: Run, prometheus: Prometheus
) -> None:
    await _scraped(prometheus)(run)
    spec = {"url": prometheus.url, "query": "outage_test_failing > 0"}
    r = await until(run, spec, lambda r: r.ok, "healthy")
    assert r.detail == "no series firing"

    prometheus.gauges.failing = 1
    r = await until(run, spec, lambda r: not r.ok, "failing")
    assert r.detail.startswith("1 series firing, max 1: outage_test_failing{instance=")
    assert r.detail.endswith(', job="target"}')
    assert r.duration > 0

    prometheus.gauges.failing = 0
    r = await until(run, spec, lambda r: r.ok, "recovered")
    assert r.detail == "no series firing"


@needs_prometheus
async def test_threshold_against_a_real_prometheus(run: Run, prometheus: Prometheus) -> None:
    await _scraped(prometheus)(run)
    spec = {
        "url": prometheus.url + "/",
        "query": "outage_test_error_ratio",
        "threshold": {"above": 0.05},
    }
    r = await until(run, spec, lambda r: r.ok and r.detail.startswith("2 series"), "healthy")
    assert r.detail == "2 series, none above 0.05 (max 0.02)"

    with prometheus.gauges.lock:
        prometheus.gauges.ratio["api"] = 0.12
    r = await until(run, spec, lambda r: not r.ok, "failing")
    assert r.detail.startswith("1 of 2 series above 0.05, max 0.12: outage_test_error_ratio{")
    assert 'service="api"' in r.detail

    with prometheus.gauges.lock:
        prometheus.gauges.ratio["api"] = 0.01
    r = await until(run, spec, lambda r: r.ok, "recovered")
    assert r.detail == "2 series, none above 0.05 (max 0.02)"


@needs_prometheus
async def test_a_query_prometheus_refuses(run: Run, prometheus: Prometheus) -> None:
    """Prometheus' own error type is ours to show; its message is its own wording."""
    r = await run("prometheus", {"url": prometheus.url, "query": "sum(outage_test_failing"})
    assert not r.ok and r.detail.startswith("query error (bad_data): ")


@needs_prometheus
async def test_a_wrong_path_is_an_http_error(run: Run, prometheus: Prometheus) -> None:
    r = await run("prometheus", {"url": prometheus.url + "/nope", "query": "up"})
    assert (r.ok, r.detail) == (False, "Prometheus answered HTTP 404")


@needs_prometheus
async def test_a_range_vector_is_refused(run: Run, prometheus: Prometheus) -> None:
    r = await run("prometheus", {"url": prometheus.url, "query": "up[1m]"})
    assert (r.ok, r.detail) == (
        False,
        "query returns a range vector: use an instant one (no [5m] at the end)",
    )


# --- what a real Prometheus will not do on demand: a double speaking its HTTP API -------------


class Double:
    def __init__(self) -> None:
        self.status = 200
        self.body: bytes = b'{"status":"success","data":{"resultType":"vector","result":[]}}'
        self.seen: list[web.Request] = []

    async def query(self, request: web.Request) -> web.Response:
        self.seen.append(request)
        return web.Response(body=self.body, status=self.status, content_type="application/json")


@pytest.fixture
async def double() -> AsyncIterator[tuple[Double, str]]:
    d = Double()
    app = web.Application()
    app.router.add_get("/prom/api/v1/query", d.query)
    async with TestServer(app, host="127.0.0.1") as server:
        yield d, str(server.make_url("/prom"))


async def test_what_is_sent(run: Run, double: tuple[Double, str]) -> None:
    d, url = double
    spec = {"url": url, "query": 'up{job="a b"} == 0', "headers": {"Authorization": "Bearer t0k"}}
    r = await run("prometheus", spec, timeout=2.0)
    assert (r.ok, r.detail) == (True, "no series firing")
    [req] = d.seen
    assert req.query["query"] == 'up{job="a b"} == 0'
    assert req.query["timeout"] == "1800ms"  # Prometheus gives up just before we do
    assert req.headers["Authorization"] == "Bearer t0k"
    assert req.headers["Accept"] == "application/json"


async def test_prometheus_own_query_timeout(run: Run, double: tuple[Double, str]) -> None:
    d, url = double
    d.status = 503
    d.body = (
        b'{"status":"error","errorType":"timeout","error":"query timed out in query execution"}'
    )
    r = await run("prometheus", {"url": url, "query": "up"})
    assert (r.ok, r.detail) == (False, "query error (timeout): query timed out in query execution")


async def test_a_proxy_error_page(run: Run, double: tuple[Double, str]) -> None:
    d, url = double
    d.status, d.body = 502, b"<html>Bad Gateway</html>"
    r = await run("prometheus", {"url": url, "query": "up"})
    assert (r.ok, r.detail) == (False, "Prometheus answered HTTP 502")
    d.status = 200
    r = await run("prometheus", {"url": url, "query": "up"})
    assert (r.ok, r.detail) == (False, "Prometheus answered with malformed JSON")


async def test_no_answer_in_time(run: Run, silent_server: int) -> None:
    spec = {"url": f"http://127.0.0.1:{silent_server}", "query": "up"}
    r = await run("prometheus", spec, timeout=0.2)
    assert (r.ok, r.detail) == (False, "response timeout after 200 ms")


async def test_nobody_listening(run: Run) -> None:
    r = await run("prometheus", {"url": f"http://127.0.0.1:{unused_port()}", "query": "up"})
    assert (r.ok, r.detail) == (False, "connection refused")


# --- every result shape, without a server ---------------------------------------------------


def vector(*samples: tuple[dict[str, str], str]) -> dict[str, Any]:
    result = [{"metric": m, "value": [1700000000.0, v]} for m, v in samples]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


def test_firing_series_name_the_worst() -> None:
    doc = vector(
        ({"__name__": "errors", "job": "api"}, "0.03"),
        ({"__name__": "errors", "job": "web"}, "0.12"),
        ({"job": "db"}, "NaN"),
    )
    r = evaluate(doc, None)
    assert (r.ok, r.detail) == (False, '3 series firing, max 0.12: errors{job="web"}')
    only_nan = evaluate(vector(({}, "NaN")), None)
    assert only_nan.detail == "1 series firing, max NaN: {}"


def test_thresholds() -> None:
    doc = vector(({"job": "a"}, "1"), ({"job": "b"}, "0"), ({"job": "c"}, "+Inf"))
    below = evaluate(doc, Threshold(below=1))
    assert (below.ok, below.detail) == (False, '1 of 3 series below 1, min 0: {job="b"}')
    above = evaluate(doc, Threshold(above=1e9))
    assert (above.ok, above.detail) == (False, '1 of 3 series above 1e+09, max +Inf: {job="c"}')
    band = evaluate(
        vector(({"job": "a"}, "5"), ({"job": "b"}, "-20")), Threshold(below=0, above=10)
    )
    assert (band.ok, band.detail) == (False, '1 of 2 series outside 0..10, worst -20: {job="b"}')
    fine = evaluate(vector(({"job": "a"}, "5")), Threshold(below=0, above=10))
    assert (fine.ok, fine.detail) == (True, "1 series, none outside 0..10 (worst 5)")
    empty = evaluate(vector(), Threshold(above=0.5))
    assert (empty.ok, empty.detail) == (True, "no series (threshold: above 0.5)")


def test_scalars_need_a_threshold() -> None:
    doc = {"status": "success", "data": {"resultType": "scalar", "result": [1.0, "0.7"]}}
    r = evaluate(doc, Threshold(above=0.5))
    assert (r.ok, r.detail) == (False, "1 series above 0.5, max 0.7: scalar")
    with pytest.raises(ProbeFailure, match="query returns a scalar: give a threshold"):
        evaluate(doc, None)


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        ([], "not a query result"),
        ({"status": "error"}, "query error (unknown): no message"),
        ({"status": "success"}, "without a data object"),
        ({"status": "success", "data": {"resultType": "string", "result": [1, "x"]}}, "a string"),
        ({"status": "success", "data": {"resultType": "histo", "result": []}}, "unknown result"),
        ({"status": "success", "data": {"resultType": "vector", "result": [{}]}}, "malformed"),
        (vector(({}, "many")), "not a number: 'many'"),
    ],
)
def test_malformed_answers(doc: Any, words: str) -> None:
    with pytest.raises(ProbeFailure, match=words.replace("(", r"\(").replace(")", r"\)")):
        evaluate(doc, None)


# --- config ---------------------------------------------------------------------------------

CONFIG = """
service: {name: Acme, contact: {name: Jane, email: jane@example.test}}
components:
  - id: api
    name: API
    impact: You cannot use the API.
    probes:
      - name: errors
        prometheus: %s
"""


@pytest.mark.parametrize(
    ("spec", "line"),
    [
        (
            "{url: 'http://127.0.0.1:9090', query: up, threshold: {}}",
            "components[0].probes[0].prometheus.threshold: "
            "a threshold needs `above`, `below` or both",
        ),
        (
            "{url: 'http://127.0.0.1:9090', query: up, threshold: {above: 1, below: 2}}",
            "components[0].probes[0].prometheus.threshold: "
            "below (2) must not be greater than above (1)",
        ),
        (
            "{url: 'http://127.0.0.1:9090', query: ''}",
            "components[0].probes[0].prometheus.query: must not be empty",
        ),
        (
            "{url: 'http://127.0.0.1:9090', query: up, threshold: {abve: 1}}",
            "components[0].probes[0].prometheus.threshold.abve: unknown key (did you mean above?)",
        ),
        ("{query: up}", "components[0].probes[0].prometheus.url: required key is missing"),
    ],
)
def test_config_errors_name_the_key(spec: str, line: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_config(CONFIG % spec, env={})
    assert line in e.value.lines
