"""Nothing acknowledged is lost: the server is killed (SIGKILL) after every 200 and restarted."""


from ..servers import start_collector
from .conftest import start
from .wire import bearer, body, join, reader

N = 8


def test_every_acknowledged_event_survives_sigkill(collector, tmp_path):
    # our own server on the same kind of database (the session's one must stay up for the others)
    running = start(collector.database, tmp_path, collector.cluster)
    app = running.app()
    port = int(running.url.rsplit(":", 1)[1].strip("/"))
    acknowledged = []
    try:
        with running.client() as client:
            headers = bearer(client, app)
            conference, uc_id = join(client, app, headers)
        for i in range(N):
            with running.client() as client:
                answer = client.post(f"/v1/apps/{app['appID']}/conferences/{conference}/{uc_id}/events/customevent",
                                     headers=headers, json=body(eventList=[{"type": "n", "i": i}], itemID=f"item-{i}"))
                assert answer.status_code == 200, answer.text
                acknowledged.append(i)
            running.server.kill()  # workers and all
            running.server = start_collector(running.server.data_dir, port=port, extra=running.db_args[2:])
        with running.client() as client:
            events = client.get(f"/v1/apps/{app['appID']}/conferences/{conference}/events", headers=reader(app)).json()
        stored = [e["body"]["eventList"][0]["i"] for e in events if e["path"] == "events/customevent"]
        assert stored == acknowledged == list(range(N))
    finally:
        running.server.stop()

