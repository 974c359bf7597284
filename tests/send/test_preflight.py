"""The preflight's reading of ``GET /models``, through an injected ``httpx.AsyncClient`` (a mock
transport): what passes, what is one line, what is a refused key."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from audit.errors import KeyRejected
from audit.send import preflight

URL = "http://api.test/v1"


def ask(routes: dict[str, tuple[int, Any]], model: str | None = "m",
        api_key: str | None = None) -> tuple[str | None, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        status, body = routes.get(request.url.path, (404, {"error": {"message": "no route"}}))
        if isinstance(body, str):
            return httpx.Response(status, text=body, headers={"content-type": "text/html"})
        return httpx.Response(status, json=body)

    async def go() -> str | None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
            return await preflight(URL, http_client=client, model=model, api_key=api_key)

    return asyncio.run(go()), seen


def listing(*ids: str, strict: bool = True) -> dict[str, Any]:
    data = {"data": [{"id": i, "object": "model"} for i in ids]}
    return {"object": "list", **data} if strict else data


@pytest.mark.parametrize("routes", [
    {"/v1/models": (200, listing("a", "m"))},  # OpenAI, vLLM
    {"/v1/models": (200, listing("m", strict=False))},  # {"data": [...]} alone
    {"/v1/models": (200, listing("m:latest"))},  # Ollama lists tags
    {"/v1/models": (200, listing())},  # an empty list cannot be checked
    {"/v1/models": (200, listing("other")), "/v1/models/m": (200, {"id": "m", "object": "model"})},  # not listed, served
    {},  # no /models at all (404)
    {"/v1/models": (403, {"error": {"message": "Missing scopes: api.model.read"}})},  # may chat, may not list
    {"/v1/models": (405, {"error": {"message": "method not allowed"}})},
])
def test_what_passes(routes: dict[str, tuple[int, Any]]) -> None:
    assert ask(routes)[0] is None


@pytest.mark.parametrize("routes,needle", [
    ({"/v1/models": (200, "<!doctype html><h1>It works!</h1>")},
     f"{URL}/models answered HTTP 200 with text/html that is not an OpenAI model list"),
    ({"/v1/models": (200, {"status": "ok", "welcome": "proxy"})}, "with application/json that is not an OpenAI model list"),
    ({"/v1/models": (200, {"data": "nope"})}, "not an OpenAI model list"),
    ({"/v1/models": (200, listing("llama-3", "qwen"))}, "does not serve the model 'm'; it offers: llama-3, qwen —"),
])
def test_what_is_a_problem(routes: dict[str, tuple[int, Any]], needle: str) -> None:
    problem, _ = ask(routes)
    assert problem is not None and needle in problem and "\n" not in problem


def test_no_model_given_checks_only_the_list() -> None:
    assert ask({"/v1/models": (200, listing("x"))}, model=None)[0] is None


def test_the_key_is_sent_and_a_401_is_a_refused_key_without_it() -> None:
    routes = {"/v1/models": (401, {"error": {"message": "Incorrect API key provided: hunter2."}})}
    with pytest.raises(KeyRejected, match=r"refused the API key \(HTTP 401 on GET /models: Incorrect API key "
                                          r"provided: \[redacted\]\.\)") as caught:
        ask(routes, api_key="hunter2")
    assert "hunter2" not in str(caught.value)
    _, seen = ask({"/v1/models": (200, listing("m"))}, api_key="hunter2")
    assert [r.headers.get("authorization") for r in seen] == ["Bearer hunter2"]
    _, seen = ask({"/v1/models": (200, listing("m"))})
    assert "authorization" not in seen[0].headers  # no key: no header


def test_a_model_id_with_a_slash_is_asked_for_quoted() -> None:
    _, seen = ask({"/v1/models": (200, listing("other"))}, model="@cf/meta/llama")
    assert seen[-1].url.raw_path.decode() == "/v1/models/%40cf%2Fmeta%2Fllama"
