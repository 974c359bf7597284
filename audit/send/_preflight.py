"""The check before a run sends anything: does the endpoint speak HTTP, answer ``GET /models``
with an OpenAI-style model list, accept the key, and serve the configured model?

What passes, and why (real servers differ):

- HTTP 200 with ``{"data": [{"id": …}, …]}`` (``"object": "list"`` optional: OpenAI, vLLM,
  llama.cpp, Ollama) naming the model — or, when the list does not name it, a ``GET
  /models/{model}`` that answers 200 (an endpoint may list only some of what it serves); an
  Ollama id ``name:latest`` counts for ``name``; an empty list cannot be checked and passes;
- HTTP 403, 404, 405, 501 and any other status but 401: endpoints that do not implement
  ``/models``, or keys allowed to chat but not to list models, must still run; sending tells;
- HTTP 401 raises :class:`~audit.errors.KeyRejected` (the caller decides whether the key was
  known to it);
- anything else answering 200 (an HTML page, JSON without a ``data`` list) is a problem: the
  base URL points somewhere that is not the API.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx

from audit.errors import KeyRejected
from audit.send._runner import body_message, redact

SHOWN_IDS = 8
"""How many of the endpoint's model ids a wrong-model message lists."""


async def preflight(base_url: str, timeout: float = 5.0, http_client: Any = None, *,
                    model: str | None = None, api_key: str | None = None) -> str | None:
    """None when the endpoint can serve the run; else why not, in one line. ``http_client``: an
    ``httpx.AsyncClient`` to ask through (an injected transport), left open; ``model``: check
    the endpoint serves it; ``api_key``: sent as a bearer token. Raises ``KeyRejected`` when
    the endpoint answers HTTP 401."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        if http_client is not None:
            return await _check(http_client, base_url, model, headers, api_key, timeout)
        async with httpx.AsyncClient(timeout=timeout) as client:
            return await _check(client, base_url, model, headers, api_key, timeout)
    except httpx.ConnectError as exc:
        return f"cannot connect to {base_url} ({exc})"
    except httpx.TimeoutException:
        return f"{base_url} did not answer within {timeout:g} s"
    except (httpx.HTTPError, httpx.InvalidURL) as exc:  # e.g. a port that speaks something else than HTTP
        return f"{base_url} does not answer HTTP ({type(exc).__name__}: {exc})"


async def _check(client: Any, base_url: str, model: str | None, headers: dict[str, str],
                 api_key: str | None, timeout: float) -> str | None:
    response = await client.get(f"{base_url}/models", headers=headers, timeout=timeout)
    if response.status_code == 401:
        said = redact(" ".join(_said(response).split()), [api_key or ""])[:200]
        raise KeyRejected(f"{base_url} refused the API key (HTTP 401 on GET /models: {said})")
    if response.status_code != 200:
        return None  # no /models here (404, 405, 501), or a key that may chat but not list (403)
    ids = model_ids(response)
    if ids is None:
        kind = response.headers.get("content-type", "").split(";")[0].strip() or "a body"
        return (f"{base_url}/models answered HTTP 200 with {kind} that is not an OpenAI model list — "
                "is this the API's base URL? (it usually ends in /v1)")
    if model is None or not ids or model in ids or f"{model}:latest" in ids:
        return None
    one = await client.get(f"{base_url}/models/{quote(model, safe='')}", headers=headers, timeout=timeout)
    if one.status_code == 200 and isinstance(_json(one), dict):
        return None
    shown = ", ".join(i[:80] for i in ids[:SHOWN_IDS]) + (f" and {len(ids) - SHOWN_IDS} more" if len(ids) > SHOWN_IDS else "")
    return f"{base_url} does not serve the model '{model}'; it offers: {shown} — set the target's model to one of them"


def model_ids(response: httpx.Response) -> list[str] | None:
    """The model ids of an OpenAI-style model list (``{"data": [{"id": …}, …]}``), or None when
    the body is not one."""
    data = _json(response)
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        return None
    return [str(m["id"]) for m in data["data"] if isinstance(m, dict) and isinstance(m.get("id"), str)]


def _json(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None


def _said(response: httpx.Response) -> str:
    """What an error response says (its JSON ``error.message``), else its first characters."""
    return body_message(_json(response)) or response.text[:200]
