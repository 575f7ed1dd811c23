"""429 with Retry-After when one token sends too much; the client that waits is served again."""

import time

from ..servers import start_collector
from .conftest import Running
from .wire import bearer, body, join


def test_too_many_requests_are_answered_429_with_retry_after(tmp_path):
    data = tmp_path / "data"
    server = start_collector(data, extra=("--rate", "2", "--burst", "5"))
    running = Running(server, ("--data-dir", str(data)), "sqlite", None)
    try:
        app = running.app()
        with running.client() as client:
            headers = bearer(client, app)
            conference, uc_id = join(client, app, headers)
            url = f"/v1/apps/{app['appID']}/conferences/{conference}/{uc_id}/events/user/alive"
            codes = [client.post(url, headers=headers, json=body()).status_code for _ in range(10)]
            assert codes[:3] == [200, 200, 200] and 429 in codes
            refused = client.post(url, headers=headers, json=body())
            assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
            time.sleep(int(refused.headers["retry-after"]))
            assert client.post(url, headers=headers, json=body()).status_code == 200
            other = bearer(client, app, user="bob")  # the limit is per token
            assert client.post(f"/v1/apps/{app['appID']}/conferences/{conference}", headers=other,
                               json=body(localID="bob")).status_code == 200
    finally:
        server.stop()
