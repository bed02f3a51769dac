"""Temporal remote codec server: lets the Web UI and the ``temporal`` CLI show decrypted
payloads to people who hold the codec server's token.

Protocol (the one the Web UI's "Codec Server" setting and ``temporal ... --codec-endpoint``
use): ``POST /encode`` and ``POST /decode`` take and return the JSON form of
``temporalio.api.common.v1.Payloads``::

    {"payloads": [{"metadata": {"encoding": "<base64>", ...}, "data": "<base64>"}]}

Both need ``Authorization: Bearer <server_token>`` (401 otherwise). CORS allows only the
Web UI's origin (:attr:`CodecSettings.ui_origin`), with credentials; preflight ``OPTIONS``
requests are answered without a token. ``GET /healthz`` is open.

CLI: ``temporal workflow show -w ID --codec-endpoint http://HOST:PORT
--codec-auth "Bearer TOKEN"``. The UI: ``temporal server start-dev --ui-codec-endpoint
http://HOST:PORT``; the UI only sends an ``Authorization`` header when it passes the
signed-in user's access token, so behind a UI without sign-in the token must be added by a
proxy in front of this server.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable

import uvicorn
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from google.protobuf.json_format import MessageToDict, ParseDict, ParseError
from temporalio.api.common.v1 import Payload, Payloads

from overdue.codec import CodecError, CodecSettings, EncryptionCodec

_CodecOp = Callable[[list[Payload]], Awaitable[list[Payload]]]


def create_app(settings: CodecSettings) -> FastAPI:
    codec = EncryptionCodec.from_settings(settings)
    token = settings.server_token.get_secret_value().encode()
    app = FastAPI(title="overdue codec server", docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=[settings.ui_origin],
        allow_methods=["POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "X-Namespace"],
        allow_credentials=True,
    )

    def authorised(request: Request) -> bool:
        if not settings.server_requires_token:
            return True
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                                  token)

    async def handle(request: Request, op: _CodecOp) -> Response:
        if not authorised(request):
            return JSONResponse({"detail": "missing or wrong bearer token"}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        try:
            body = json.loads(await request.body())
            payloads = Payloads()
            ParseDict(body, payloads)
        except (ValueError, ParseError) as exc:  # JSONDecodeError is a ValueError
            return JSONResponse({"detail": f"body is not a Payloads message: {exc}"},
                                status_code=400)
        try:
            result = await op(list(payloads.payloads))
        except CodecError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=400)
        return JSONResponse(MessageToDict(Payloads(payloads=result)))

    @app.post("/encode")
    async def encode(request: Request) -> Response:
        return await handle(request, codec.encode)

    @app.post("/decode")
    async def decode(request: Request) -> Response:
        return await handle(request, codec.decode)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def run(host: str = "127.0.0.1", port: int = 8888,
        settings: CodecSettings | None = None) -> None:
    """Serve the codec server until interrupted."""
    uvicorn.run(create_app(settings or CodecSettings()), host=host, port=port)
