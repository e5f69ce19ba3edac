"""The server's error envelope back to the modelplane exception tree (pure mapping)."""

from __future__ import annotations

import httpx
import pytest

from modelplane.core import errors
from modelplane.remote.http import error_from_response


def _answer(status: int, body: object = None, text: str = "") -> httpx.Response:
    request = httpx.Request("GET", "http://mp.example/api/v1/models/x")
    if body is not None:
        return httpx.Response(status, json=body, request=request)
    return httpx.Response(status, text=text, request=request)


@pytest.mark.parametrize("cls", [
    errors.NotFoundError, errors.AlreadyExistsError, errors.InvalidArgumentError,
    errors.ConfigurationError, errors.InvalidStateError, errors.PermissionDeniedError,
    errors.UnauthenticatedError, errors.PayloadTooLargeError, errors.IntegrityCheckError,
    errors.StorageUnavailableError, errors.ModelplaneError])
def test_every_class_of_the_tree_comes_back_as_itself(cls: type[errors.ModelplaneError]) -> None:
    sent = cls("what went wrong", details={"field": "name", "position": 3})
    got = error_from_response(_answer(cls.http_status, {"error": sent.to_dict()}))
    assert type(got) is cls
    assert (got.message, got.details, got.code) == (sent.message, sent.details, sent.code)


def test_codes_outside_the_tree_go_by_status_and_keep_their_code() -> None:
    got = error_from_response(_answer(405, {"error": {
        "code": "method_not_allowed", "message": "method not allowed: GET /x", "details": {}}}))
    assert type(got) is errors.ModelplaneError and got.code == "method_not_allowed"
    conflict = error_from_response(_answer(409, {"error": {
        "code": "conflict", "message": "busy", "details": {}}}))
    assert isinstance(conflict, errors.InvalidStateError)


def test_an_answer_that_is_not_the_envelope_names_the_url_and_status() -> None:
    got = error_from_response(_answer(502, text="<html>Bad   Gateway</html>"))
    assert isinstance(got, errors.StorageUnavailableError)
    assert got.message == ("the server at http://mp.example/api/v1/models/x answered 502: "
                           "<html>Bad Gateway</html>")
