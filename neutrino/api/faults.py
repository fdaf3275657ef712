"""Errors as Neutron answers them: ``{"NeutronError": {"type", "message", "detail"}}``."""
import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from neutrino.server.exceptions import NeutronException

LOG = logging.getLogger(__name__)

HTTP_TYPES = {400: "HTTPBadRequest", 401: "HTTPUnauthorized", 403: "HTTPForbidden",
              404: "HTTPNotFound", 405: "HTTPMethodNotAllowed", 409: "HTTPConflict",
              412: "HTTPPreconditionFailed", 415: "HTTPUnsupportedMediaType",
              500: "HTTPInternalServerError"}
HTTP_MESSAGES = {404: "The resource could not be found.",
                 405: "The method is not allowed for the requested URL."}


def error_response(code: int, type_: str, message: str) -> JSONResponse:
    return JSONResponse({"NeutronError": {"type": type_, "message": message, "detail": ""}},
                        status_code=code)


async def neutron_error(_request: Request, error: NeutronException) -> JSONResponse:
    return error_response(error.code, error.type, str(error))


async def http_error(_request: Request, error: HTTPException) -> JSONResponse:
    code = error.status_code
    message = HTTP_MESSAGES.get(code) or str(error.detail)
    return error_response(code, HTTP_TYPES.get(code, "HTTPError"), message)


async def internal_error(_request: Request, error: Exception) -> JSONResponse:
    LOG.exception("request failed: %s", error)
    return error_response(500, "HTTPInternalServerError",
                          "Request Failed: internal server error while processing your request.")


HANDLERS = {NeutronException: neutron_error, HTTPException: http_error,
            Exception: internal_error}
