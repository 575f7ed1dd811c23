"""python -m collector serve | apps ...  (SPEC part 3: the command-line contract).

Exit codes: 0 on success, 2 on bad arguments, with a one-line error on stderr.
"""

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)


def storage_args(parser) -> None:
    parser.add_argument("--data-dir", type=Path, default=Path("collector-data"),
                        help="where the SQLite database and the self-signed certificate live")
    parser.add_argument("--database-url", help="e.g. postgresql://user:pass@host/db (default: SQLite in --data-dir)")


def turn_args(parser) -> None:
    parser.add_argument("--turn-url", help="the TURN server for the pre-call test, turn:host:3478 (UDP and TCP)")
    parser.add_argument("--turn-secret", default=os.environ.get("COLLECTOR_TURN_SECRET"),
                        help="its static-auth-secret (coturn use-auth-secret); or COLLECTOR_TURN_SECRET")


def turn_of(args, parser):
    from .turn import Turn, parse_url

    if not args.turn_url:
        return None
    if not args.turn_secret:
        parser.error("--turn-url needs --turn-secret (or COLLECTOR_TURN_SECRET)")
    try:
        return Turn(parse_url(args.turn_url), args.turn_secret)
    except ValueError as exc:
        parser.error(f"--turn-url: {exc}")


def build_parser() -> Parser:
    parser = Parser(prog="python -m collector", description="The callstats collector.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    serve = commands.add_parser("serve", help="serve over TLS + HTTP/2")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8443)
    storage_args(serve)
    serve.add_argument("--certfile", type=Path)
    serve.add_argument("--keyfile", type=Path)
    serve.add_argument("--dist", type=Path, default=ROOT / "dist", help="the bundle to serve at / (default dist/)")
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--rate", type=float, default=50.0, help="requests a second per access token (429 above)")
    serve.add_argument("--burst", type=float, default=200.0, help="requests allowed at once per access token")
    serve.add_argument("--submission-interval", type=int, default=15000,
                       help="ms between a client's stats uploads (told in its access token)")
    serve.add_argument("--token-lifetime", type=int, default=7200,
                       help="seconds an access token is valid (clients renew it before it expires)")
    turn_args(serve)

    demo = commands.add_parser("demo", help="serve with a demo app: a real call at /demo/ (SQLite)")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8443)
    demo.add_argument("--data-dir", type=Path, default=Path("collector-data"))
    demo.add_argument("--dist", type=Path, default=ROOT / "dist")

    apps = commands.add_parser("apps", help="create and manage apps").add_subparsers(
        dest="apps_command", required=True, parser_class=Parser)
    create = apps.add_parser("create", help="make an app; prints {appID, appSecret, readKey}")
    create.add_argument("--name", required=True)
    create.add_argument("--origin", action="append", default=[], help="allowed page origin (repeatable)")
    storage_args(create)
    listing = apps.add_parser("list")
    storage_args(listing)
    add_key = apps.add_parser("add-key", help="register a public key for third-party tokens")
    add_key.add_argument("--app", type=int, required=True)
    add_key.add_argument("--key-id", required=True)
    add_key.add_argument("--public-key", type=Path, required=True, help="PEM file (EC P-256 or RSA)")
    storage_args(add_key)
    origins = apps.add_parser("set-origins", help="replace the app's origin whitelist (none: every origin)")
    origins.add_argument("--app", type=int, required=True)
    origins.add_argument("origins", nargs="*")
    storage_args(origins)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args, parser)
    if args.command == "demo":
        return demo(args, parser)
    return asyncio.run(apps_command(args, parser))


def demo(args, parser) -> int:
    """serve, with an app named "demo" (made once, kept in the data dir) whose page is /demo/."""
    from .store import Store, database_url, make_engine, migrate

    async def demo_app() -> dict:
        engine = make_engine(database_url(args.data_dir, None))
        await migrate(engine)
        store = Store(engine)
        found = next((a for a in await store.list_apps() if a["name"] == "demo"), None)
        app = found or await store.create_app("demo", [])
        await engine.dispose()
        return {"appID": str(app["app_id"]), "appSecret": app["secret"], "readKey": app["read_key"]}

    app = asyncio.run(demo_app())
    base = f"https://{args.host}:{args.port}/"
    print(f"demo: open {base}demo/ (self-signed certificate: accept it, or start Chromium with the SPKI "
          f"hash below and --ignore-certificate-errors-spki-list=<hash>)", flush=True)
    print(f"demo: dashboard: {base}dashboard/#app={app['appID']}&key={app['readKey']}", flush=True)
    print(f"demo: read API: {base}v1/apps/{app['appID']}/conferences  (Authorization: Bearer {app['readKey']})",
          flush=True)
    args.database_url, args.certfile, args.keyfile = None, None, None
    # uploads every 5 s rather than 15 s: the demo's dashboard charts fill in while one watches
    args.workers, args.rate, args.burst, args.submission_interval, args.token_lifetime = 1, 50.0, 200.0, 5000, 7200
    turn = _demo_turn(args)
    args.turn_url, args.turn_secret = (turn.turn.url, turn.turn.secret) if turn else (None, None)
    try:
        return serve(args, parser, demo_app={"appID": app["appID"], "appSecret": app["appSecret"]})
    finally:
        if turn:
            turn.stop()


def _demo_turn(args):
    """A coturn on loopback for the demo's pre-call test, when it is installed."""
    from . import coturn

    if not coturn.installed():
        print("demo: no pre-call test (coturn is not installed: apt-get install coturn)", flush=True)
        return None
    started = coturn.start(args.data_dir / "turn")
    print(f"demo: pre-call test through coturn at {started.turn.url}", flush=True)
    return started


def serve(args, parser, demo_app=None) -> int:
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config

    from .app import create_app
    from .store import database_url
    from .tls import self_signed, spki_hash

    if bool(args.certfile) != bool(args.keyfile):
        parser.error("--certfile and --keyfile go together")
    certfile, keyfile = (args.certfile, args.keyfile) if args.certfile else self_signed(args.data_dir)
    config = Config()
    config.bind = [f"{args.host}:{args.port}"]
    config.certfile, config.keyfile = str(certfile), str(keyfile)
    config.alpn_protocols = ["h2", "http/1.1"]
    config.accesslog = None
    url = database_url(args.data_dir, args.database_url)
    turn = turn_of(args, parser)
    print(f"collector: https://{args.host}:{args.port}/  (HTTP/2, TLS)", flush=True)
    print(f"collector: certificate SPKI sha256: {spki_hash(certfile)}", flush=True)
    if args.workers <= 1:
        app = create_app(url, dist=args.dist, rate=args.rate, burst=args.burst,
                         submission_interval=args.submission_interval, token_lifetime=args.token_lifetime,
                         demo_app=demo_app, turn=turn)
        asyncio.run(hypercorn_serve(app, config))
        return 0
    return _serve_workers(config, args, url)


def _serve_workers(config, args, url: str) -> int:
    """Several processes on one socket: migrate once here, then each worker builds its app."""
    from hypercorn.run import run

    from .store import make_engine, migrate

    async def migrate_once():
        engine = make_engine(url)
        await migrate(engine)
        await engine.dispose()

    asyncio.run(migrate_once())
    os.environ.update(COLLECTOR_DATABASE_URL=url, COLLECTOR_DIST=str(args.dist) if args.dist.is_dir() else "",
                      COLLECTOR_RATE=str(args.rate), COLLECTOR_BURST=str(args.burst),
                      COLLECTOR_SUBMISSION_INTERVAL=str(args.submission_interval),
                      COLLECTOR_TOKEN_LIFETIME=str(args.token_lifetime),
                      COLLECTOR_TURN_URL=args.turn_url or "", COLLECTOR_TURN_SECRET=args.turn_secret or "")
    config.application_path = "collector.app:from_environment()"
    config.workers = args.workers
    return run(config)


async def apps_command(args, parser) -> int:
    from .store import Store, database_url, make_engine, migrate

    engine = make_engine(database_url(args.data_dir, args.database_url))
    try:
        await migrate(engine)
        store = Store(engine)
        result = await _apps(store, args, parser)
    finally:
        await engine.dispose()
    print(json.dumps(result))
    return 0


async def _apps(store, args, parser):
    if args.apps_command == "create":
        app = await store.create_app(args.name, args.origin)
        return {"appID": str(app["app_id"]), "appSecret": app["secret"], "readKey": app["read_key"]}
    if args.apps_command == "list":
        return [{"appID": str(a["app_id"]), "name": a["name"], "origins": a["origins"]} for a in await store.list_apps()]
    if await store.app(args.app) is None:
        parser.error(f"no app {args.app}")
    if args.apps_command == "add-key":
        pem = _public_key(args.public_key, parser)
        await store.add_key(args.app, args.key_id, pem)
        return {"appID": str(args.app), "keyID": args.key_id}
    await store.set_origins(args.app, args.origins)
    return {"appID": str(args.app), "origins": args.origins}


def _public_key(path: Path, parser) -> str:
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        pem = path.read_text()
        load_pem_public_key(pem.encode())
    except (OSError, ValueError) as exc:
        parser.error(f"--public-key: not a PEM public key ({exc})")
    return pem


if __name__ == "__main__":
    sys.exit(main())
