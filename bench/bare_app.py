"""The reference: a bare Starlette route returning a /me-sized JSON document."""
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

DOC = {"id": "c9db2c8c-984e-46af-a3f5-cf7fe18a036d", "email": "fan@demo.com", "display_name": "Demo Fan",
       "role": "fan", "artist": None, "created_at": "2026-11-26T14:43:23.211846+00:00"}


async def me(request):
    return JSONResponse(DOC)

app = Starlette(routes=[Route("/me", me)])
