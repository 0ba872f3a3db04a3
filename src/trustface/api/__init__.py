"""The REST API (FastAPI): thin routers over the service functions, API-key auth with roles and
tenant scopes, the error envelope ``{"error": {"code", "message", "requirements"}}``.

>>> from trustface.api import create_app
>>> app = create_app("/srv/trustface")        # then: uvicorn.run(app) or `trustface serve`
"""

from trustface.api.app import create_app

__all__ = ["create_app"]
