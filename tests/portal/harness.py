"""The page test harness: a browser-like client over the real app that keeps its
cookies, reads the forms of a page (hidden CSRF and one-time tokens included) and
submits them as a browser would."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from fastapi.testclient import TestClient
from lxml import html as lxml_html


@dataclass
class Form:
    action: str
    fields: dict[str, Any]


def forms_of(page: str) -> list[Form]:
    """Every form of a page with the values a browser would send unchanged."""
    tree = lxml_html.fromstring(page)
    found = []
    for form in tree.forms:
        fields: dict[str, Any] = {}
        for element in form.inputs:
            name = element.get("name")
            if not name:
                continue
            kind = (element.get("type") or "").lower()
            if kind in {"checkbox", "radio"}:
                if element.checked:
                    fields[name] = element.get("value", "on")
                continue
            if element.tag == "select":
                fields[name] = element.value or ""
            elif kind != "submit":
                fields[name] = element.get("value", "")
        found.append(Form(form.get("action") or "", fields))
    return found


class Browser:
    """One visitor: its own cookie jar over the app."""

    def __init__(self, app: Any) -> None:
        self.http = TestClient(app, raise_server_exceptions=True, follow_redirects=True)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def form(self, path: str, action: str | None = None, index: int = 0) -> Form:
        """The form posting to ``action`` on the page at ``path`` (else the index-th)."""
        page = self.get(path)
        assert page.status_code == 200, page.text[:500]
        forms = forms_of(page.text)
        if action is not None:
            forms = [f for f in forms if f.action == action]
        assert forms, f"no form {action!r} on {path}"
        return forms[index]

    def submit(
        self, path: str, action: str | None = None, follow: bool = True, **fields: Any
    ) -> httpx.Response:
        """Fill the form of ``path`` posting to ``action`` and send it."""
        form = self.form(path, action)
        data = {**form.fields, **fields}
        return self.post(form.action or path, data, follow=follow)

    def post(self, action: str, data: dict[str, Any], follow: bool = True) -> httpx.Response:
        return self.http.post(action, data=data, follow_redirects=follow)

    def sign_in(self, email: str, password: str) -> httpx.Response:
        return self.submit("/signin", "/signin", email=email, password=password)
