"""One or more OpenAI-compatible servers (vLLM's, SGLang's) as one engine: how the simulator scales out.

Each prompt is one `POST {base}/chat/completions` carrying ZeroSearch's messages (empty system
message + user turn); the server applies the model's chat template. Requests go to the healthy
replica with the fewest requests in flight (ties in turn), so a batch spreads across replicas
and a slow replica gets less. A connection error or a 5xx is retried, up to `max_retries` times,
on another replica; a 4xx is the request's own fault and is not. A connection error also takes
the replica out at once; a background check (`GET {base}/models` every `health_interval_s`)
takes failing replicas out and puts them back when they answer again.

Failure modes, all raised as `EngineError`: no replica reachable, every attempt failed, the
request exceeded `request_timeout_s` (not retried: another replica would likely be as slow, and
the caller's own deadline is already spent), a refused request (4xx), a malformed response. A
400 about the context length is `PromptTooLong`: the request's fault, which clients see as a 400.
Messages name replicas and quote their answers; they are logged, never returned to clients.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from ..settings import EngineSettings
from .base import Completion, EngineError, PromptTooLong, SamplingSettings, chat_messages

logger = logging.getLogger(__name__)

HEALTH_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 10.0
KEEPALIVE_PER_REPLICA = 64


@dataclass(frozen=True)
class ReplicaStatus:
    url: str
    healthy: bool
    outstanding: int
    requests: int
    failures: int


class _Replica:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.healthy = False
        self.outstanding = 0
        self.requests = 0
        self.failures = 0

    def status(self) -> ReplicaStatus:
        return ReplicaStatus(self.url, self.healthy, self.outstanding, self.requests, self.failures)


class _Retryable(Exception):
    """An attempt failed in a way another replica might not."""


class OpenAICompatEngine:
    """`Engine` over OpenAI-compatible `/chat/completions` upstreams, balanced and health-checked."""

    kind = "openai"

    def __init__(
        self,
        cfg: EngineSettings,
        *,
        health_interval_s: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`transport`: an httpx transport to use instead of the network (tests)."""
        if not cfg.openai_urls:
            raise ValueError("the openai engine needs at least one URL in engine.openai_urls")
        self._cfg = cfg
        self._health_interval_s = health_interval_s
        self._transport = transport
        self._replicas = [_Replica(u) for u in cfg.openai_urls]
        # The name sent as `model`: configured, else the upstream's own (discovered at start).
        self._model: str | None = cfg.served_model_name or cfg.model
        self.model_name: str = self._model or ""
        # The upstream's checkpoint as far as /models tells (its id and root); configured: that.
        self.model_revision: str = cfg.model_revision or ""
        self._client: httpx.AsyncClient | None = None
        self._health_task: asyncio.Task[None] | None = None
        self._turn = 0

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if self._client is not None:
            return
        cfg = self._cfg
        headers = {"Authorization": f"Bearer {cfg.openai_api_key}"} if cfg.openai_api_key else {}
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(cfg.request_timeout_s, connect=min(CONNECT_TIMEOUT_S, cfg.request_timeout_s)),
            # No cap on connections: vLLM queues requests itself, and a pool limit here would
            # only add a second, invisible queue.
            limits=httpx.Limits(
                max_connections=None, max_keepalive_connections=KEEPALIVE_PER_REPLICA * len(self._replicas)
            ),
            headers=headers,
            transport=self._transport,
        )
        await self.check_health()
        if not any(r.healthy for r in self._replicas):
            # Not fatal: upstreams often start after us (compose); the health loop brings them in.
            logger.warning("no OpenAI upstream answered yet: %s", ", ".join(r.url for r in self._replicas))
        self._health_task = asyncio.create_task(self._health_loop(), name="serpsim-openai-health")

    def ready(self) -> bool:
        return self._client is not None and any(r.healthy for r in self._replicas)

    async def aclose(self) -> None:
        task, self._health_task = self._health_task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def replicas(self) -> list[ReplicaStatus]:
        return [r.status() for r in self._replicas]

    # -- health ----------------------------------------------------------------------------

    async def check_health(self) -> None:
        """Probe every replica once, now; learn the model name from the first that answers."""
        await asyncio.gather(*(self._probe(r) for r in self._replicas))

    async def _health_loop(self) -> None:
        while True:
            await asyncio.sleep(self._health_interval_s)
            try:
                await self.check_health()
            except Exception:  # the loop must outlive any one bad probe
                logger.exception("health check failed")

    async def _probe(self, replica: _Replica) -> None:
        assert self._client is not None
        try:
            resp = await self._client.get(f"{replica.url}/models", timeout=HEALTH_TIMEOUT_S)
            ok = resp.status_code == 200
            models = resp.json().get("data", []) if ok else []
        except (httpx.HTTPError, ValueError, AttributeError):
            ok, models = False, []
        card = models[0] if ok and models and isinstance(models[0], dict) else {}
        if self._model is None and card.get("id"):
            self._model = str(card["id"])
            self.model_name = self._model
            logger.info("openai engine: model %r (from %s)", self._model, replica.url)
        if not self.model_revision and card.get("id"):
            self.model_revision = f"upstream:{card['id']}@{card.get('root') or ''}"
        self._set_health(replica, ok)

    def _set_health(self, replica: _Replica, ok: bool) -> None:
        if ok != replica.healthy:
            if ok:
                logger.info("upstream %s is healthy", replica.url)
            else:
                logger.warning("upstream %s is unhealthy; taken out of rotation", replica.url)
        replica.healthy = ok

    # -- requests --------------------------------------------------------------------------

    async def generate(
        self, prompts: Sequence[str], settings: Sequence[SamplingSettings]
    ) -> list[Completion]:
        if len(prompts) != len(settings):
            raise ValueError(f"{len(prompts)} prompts but {len(settings)} sampling settings")
        if self._client is None:
            raise EngineError("openai engine is not running")
        if self._model is None:
            await self.check_health()
            if self._model is None:
                raise EngineError("no OpenAI upstream reachable to learn the model name from")
        return list(await asyncio.gather(*(self._one(p, s) for p, s in zip(prompts, settings))))

    def _pick(self, tried: set[_Replica]) -> _Replica:
        """Least outstanding among healthy replicas not yet tried; ties go round the list."""
        n = len(self._replicas)
        self._turn = (self._turn + 1) % n
        order = self._replicas[self._turn:] + self._replicas[: self._turn]
        for pool in (
            [r for r in order if r.healthy and r not in tried],
            [r for r in order if r not in tried],  # perhaps back since the last health check
            [r for r in order if r.healthy],
            order,
        ):
            if pool:
                return min(pool, key=lambda r: r.outstanding)
        raise AssertionError("unreachable: order is never empty")

    async def _one(self, prompt: str, s: SamplingSettings) -> Completion:
        body: dict[str, Any] = {
            "model": self._model,
            "messages": chat_messages(prompt),
            "temperature": s.temperature,
            "top_p": s.top_p,
            "max_tokens": s.max_tokens,
            **self._cfg.openai_sampling,
        }
        if s.seed is not None:
            body["seed"] = s.seed
        tried: set[_Replica] = set()
        errors: list[str] = []
        for _ in range(self._cfg.max_retries + 1):
            replica = self._pick(tried)
            tried.add(replica)
            try:
                return await self._attempt(replica, body)
            except _Retryable as exc:
                replica.failures += 1
                errors.append(f"{replica.url}: {exc}")
                logger.warning("upstream attempt failed, %s", errors[-1])
        raise EngineError(f"all {len(errors)} attempts failed: " + "; ".join(errors))

    async def _attempt(self, replica: _Replica, body: dict[str, Any]) -> Completion:
        assert self._client is not None
        timeout = self._cfg.request_timeout_s
        replica.outstanding += 1
        replica.requests += 1
        try:
            # httpx's timeouts bound each read; this bounds the whole request.
            resp = await asyncio.wait_for(self._client.post(f"{replica.url}/chat/completions", json=body), timeout)
        except (TimeoutError, httpx.ReadTimeout, httpx.WriteTimeout) as exc:
            raise EngineError(f"{replica.url} did not answer within {timeout:g} s") from exc
        except httpx.TransportError as exc:  # refused, reset, connect timeout, pool timeout
            self._set_health(replica, False)
            raise _Retryable(f"{type(exc).__name__}: {exc}") from exc
        finally:
            replica.outstanding -= 1
        if resp.status_code >= 500:
            raise _Retryable(f"HTTP {resp.status_code}: {resp.text[:200]}")
        if resp.status_code >= 400:
            if resp.status_code == 400 and "context length" in resp.text.lower():
                # vLLM: "This model's maximum context length is N tokens..."; SGLang: "...longer
                # than the model's context length (N tokens)". The prompt's fault, not the server's.
                raise PromptTooLong(f"{replica.url}: HTTP 400: {resp.text[:500]}")
            raise EngineError(f"{replica.url} refused the request: HTTP {resp.status_code}: {resp.text[:500]}")
        return _parse(resp, replica.url)


def _parse(resp: httpx.Response, url: str) -> Completion:
    try:
        data = resp.json()
        text = data["choices"][0]["message"]["content"] or ""
        usage = data.get("usage") or {}
        return Completion(
            text=text,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
        )
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise EngineError(f"{url} sent a malformed chat completion: {resp.text[:200]}") from exc
