"""Where the reference apps' Swagger UI comes from: the ``swagger-ui-bundle`` package, served by the app itself.

FastAPI's and Litestar's defaults load Swagger UI (and Redoc, and its Google fonts) from a CDN, so ``/docs`` is a
blank page on a machine without internet access (an air-gapped deployment, a laptop on a train). Serving the
files of an installed package under ``STATIC_PATH`` keeps the page whole wherever the service runs, and keeps
the service from making browsers fetch third-party scripts next to a page that handles session tokens.
"""

from __future__ import annotations

from pathlib import Path

from swagger_ui_bundle import swagger_ui_path

__all__ = ["CSS_URL", "FAVICON_URL", "JS_URL", "PRESET_JS_URL", "STATIC_DIR", "STATIC_PATH"]

#: The package's copy of Swagger UI (``swagger-ui-bundle.js``, ``swagger-ui.css``, the standalone preset...).
STATIC_DIR = Path(str(swagger_ui_path))

#: Where the reference apps mount ``STATIC_DIR``.
STATIC_PATH = "/static/swagger-ui"

JS_URL = f"{STATIC_PATH}/swagger-ui-bundle.js"
PRESET_JS_URL = f"{STATIC_PATH}/swagger-ui-standalone-preset.js"
CSS_URL = f"{STATIC_PATH}/swagger-ui.css"
FAVICON_URL = f"{STATIC_PATH}/favicon-32x32.png"
