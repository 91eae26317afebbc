"""/metrics, /docs and /openapi.json tell an outsider the version, every route and the traffic: open on a loopback
address, behind a key when the server listens beyond it unless `--public-metrics` says otherwise."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import ServerProcess
from tracehouse.settings import load_settings

OPS = ("/metrics", "/docs", "/openapi.json")


@pytest.mark.parametrize(
    ("host", "flag", "public"),
    [
        ("127.0.0.1", None, True),
        ("::1", None, True),
        ("0.0.0.0", None, False),
        ("0.0.0.0", True, True),
        ("127.0.0.1", False, False),
    ],
)
def test_default_is_public_on_loopback_only(host: str, flag: bool | None, public: bool) -> None:
    assert load_settings(host=host, public_metrics=flag).ops_public is public


def test_beyond_loopback_ops_endpoints_need_a_key(make_server: object) -> None:
    server: ServerProcess = make_server(extra_args=["--host", "0.0.0.0"])  # type: ignore[operator]
    for path in OPS:
        assert httpx.get(server.url + path).status_code == 401, path
        assert httpx.get(server.url + path, headers={"Authorization": "Bearer th_wrong"}).status_code == 401
        assert httpx.get(server.url + path, headers=server.headers).status_code == 200, path
    assert "tracehouse_" in httpx.get(server.url + "/metrics", headers=server.headers).text
    assert "/api/traces" in httpx.get(server.url + "/openapi.json", headers=server.headers).json()["paths"]
    assert httpx.get(server.url + "/healthz").status_code == 200  # probes stay open


def test_public_metrics_flag_opens_them_beyond_loopback(make_server: object) -> None:
    server: ServerProcess = make_server(extra_args=["--host", "0.0.0.0", "--public-metrics"])  # type: ignore[operator]
    for path in OPS:
        assert httpx.get(server.url + path).status_code == 200, path


def test_docs_work_offline_from_the_packaged_swagger_ui(make_server: object) -> None:
    server = make_server()  # type: ignore[operator]
    page = httpx.get(f"{server.url}/docs", timeout=10)
    assert page.status_code == 200
    assert "/docs-assets/swagger-ui-bundle.js" in page.text
    assert "cdn." not in page.text and "https://" not in page.text.split("<body>")[0]
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        r = httpx.get(f"{server.url}/docs-assets/{asset}", timeout=10)
        assert r.status_code == 200 and len(r.content) > 10_000, asset
