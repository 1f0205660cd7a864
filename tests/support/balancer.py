"""A round-robin HTTP reverse proxy on 127.0.0.1, for tests of several bot instances.

Each request goes to the next upstream in turn with its method, path, query, headers
and body; the client gets the upstream's status and body. An upstream that cannot be
reached answers 502 (one that does not answer within `timeout`, 504), as nginx would.
`counts[upstream]` says how many requests each was sent, `statuses` every
(upstream, status) in order.

    async with Balancer([server_a.url, server_b.url]) as balancer:
        ...  # point the webhook at balancer.url_for("/telegram")
"""

import itertools
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

# Hop-by-hop headers, and the ones the client library sets again itself.
NOT_FORWARDED = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
    "trailer",
    "host",
    "content-length",
}


class Balancer:
    """The proxy; `start()`/`stop()` or `async with`."""

    def __init__(self, upstreams: list[str], timeout: float = 90.0) -> None:
        if not upstreams:
            raise ValueError("a balancer needs at least one upstream")
        # Only scheme://host:port of each upstream counts; the request brings its own path.
        self.upstreams = [urlsplit(u)._replace(path="", query="").geturl() for u in upstreams]
        self.timeout = timeout
        self.counts = dict.fromkeys(self.upstreams, 0)
        self.statuses: list[tuple[str, int]] = []
        self._next = itertools.cycle(self.upstreams)
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self.base_url = ""

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            auto_decompress=False,
        )
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._proxy)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    def url_for(self, path: str) -> str:
        """The balancer's address for a path (with its query, if any)."""
        return self.base_url + path

    async def _proxy(self, request: web.Request) -> web.Response:
        assert self._http is not None
        upstream = next(self._next)
        self.counts[upstream] += 1
        headers = {k: v for k, v in request.headers.items() if k.lower() not in NOT_FORWARDED}
        if request.remote:
            headers["X-Forwarded-For"] = request.remote
        body = await request.read()
        try:
            async with self._http.request(
                request.method,
                upstream + request.path_qs,
                headers=headers,
                data=body or None,
                allow_redirects=False,
            ) as response:
                payload = await response.read()
                status = response.status
                reply_headers = {
                    k: v for k, v in response.headers.items() if k.lower() not in NOT_FORWARDED
                }
        except TimeoutError:
            self.statuses.append((upstream, 504))
            return web.Response(status=504, text="Gateway Timeout")
        except aiohttp.ClientError:
            self.statuses.append((upstream, 502))
            return web.Response(status=502, text="Bad Gateway")
        self.statuses.append((upstream, status))
        return web.Response(status=status, body=payload, headers=reply_headers)
