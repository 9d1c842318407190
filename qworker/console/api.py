"""Live updates: what an open page polls (one request every ``poll_interval`` seconds, never
more than one a second).

``GET /api/live?v=VERSION&since=T&charts=a,b&full=c`` answers from the sampler's cache:

* ``rows``: every queue's counts, only when the sample is newer than the page's ``v`` (the
  sampler reads the backend every ``sample_interval`` seconds; between two samples a poll gets
  back a few bytes);
* ``series``: chart points newer than ``since`` for the queues whose charts are on screen
  (``charts``), and the whole last hour for charts that just appeared (``full``).

``GET /queues/NAME/redrives/ID`` is the htmx fragment of one redrive's progress; while the task
runs the fragment asks to be fetched again in 2 s (with the page's own poll, one request a
second), and when it ends it stops asking.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from qworker.console.sampler import as_rows

if TYPE_CHECKING:
    from qworker.console.state import Console

#: the most charts one poll may ask for
MAX_CHARTS = 100


def _names(text: str) -> list[str]:
    return [n for n in text.split(",") if n][:MAX_CHARTS]


def routes(console: Console) -> list[Route]:
    async def live(request: Request) -> Response:
        params = request.query_params
        sample = console.sampler.sample
        body: dict[str, object] = {
            "version": sample.version,
            "at": sample.at,
            "error": sample.error,
            "throughput": sample.throughput_source,
            "workers": len(console.workers.workers),
        }
        if params.get("v") != str(sample.version):
            body["rows"] = as_rows(sample.queues.values())
        try:
            since = float(params.get("since", "0") or 0)
        except ValueError:
            since = 0.0
        histories = console.sampler.histories
        floor = time.time() - console.settings.history_seconds  # idle sampling keeps older points
        since = max(since, floor)
        series = {}
        for name in _names(params.get("charts", "")):
            if name in histories:
                series[name] = histories[name].columns(since)
        for name in _names(params.get("full", "")):
            if name in histories:
                series[name] = histories[name].columns(floor)
        body["series"] = series
        return JSONResponse(body)

    async def redrive_progress(request: Request) -> Response:
        task = console.redrives.get(request.path_params["task"])
        if task is None or task.dead_letter_queue != request.path_params["name"]:
            return Response("No such redrive task", status_code=404)
        await console.redrives.progress(task)
        if not task.running:
            await console.sampler.sample_now()
        return console.render(request, "redrive_task.html", task=task, name=task.dead_letter_queue)

    return [
        Route("/api/live", live),
        Route("/queues/{name}/redrives/{task}", redrive_progress),
    ]
