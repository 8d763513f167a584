"""Flask peer (a): Clerk's official Python SDK (``clerk-backend-api``) guarding a view; verification only.

``Clerk().authenticate_request`` with a networkless key (``BENCH_JWT_KEY``) and ``authorized_parties`` from
``BENCH_AUTHORIZED_PARTIES``, as Clerk's docs show; the SDK reads only ``request.headers``, so Flask's request
is passed as is. No database. Served by ``bench.compare --framework flask`` on the Flask reference app's server
(gunicorn gthread): ``gunicorn 'bench.baselines.flask_sdk:create_app()'``.
"""

import os
from typing import Any

from clerk_backend_api import Clerk
from clerk_backend_api.security.types import AuthenticateRequestOptions
from flask import Flask, abort, request

__all__ = ["create_app"]


def create_app() -> Flask:
    sdk = Clerk()
    jwt_key = os.environ["BENCH_JWT_KEY"]
    parties = [party for party in os.environ["BENCH_AUTHORIZED_PARTIES"].split(",") if party]
    app = Flask(__name__)

    @app.get("/me")
    def me() -> dict[str, Any]:
        # Fresh options per request: the SDK method writes secret_key into the options it is given.
        options = AuthenticateRequestOptions(jwt_key=jwt_key, authorized_parties=parties)
        state = sdk.authenticate_request(request, options)  # type: ignore[arg-type]  # Headers is a Mapping at run time
        if not state.is_signed_in or state.payload is None:
            abort(401)
        return {"clerk_id": state.payload.get("sub")}

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
