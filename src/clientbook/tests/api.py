"""A small REST client for the API tests: a Django test client with a token."""

import json

from django.test import Client

from clientbook.org.services import api_token_create


class ApiClient:
    def __init__(self, user=None, *, key: str | None = None):
        self.client = Client()
        if user is not None and key is None:
            _token, key = api_token_create(user=user, name="test")
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}

    def _call(self, method: str, path: str, body=None, **params):
        url = "/api/v1" + path
        kwargs = dict(self.headers)
        if body is not None:
            kwargs.update(data=json.dumps(body), content_type="application/json")
        elif params:
            kwargs["data"] = params
        return getattr(self.client, method)(url, **kwargs)

    def get(self, path, **params):
        return self._call("get", path, **params)

    def post(self, path, body=None):
        return self._call("post", path, body if body is not None else {})

    def patch(self, path, body):
        return self._call("patch", path, body)

    def delete(self, path):
        return self._call("delete", path)
