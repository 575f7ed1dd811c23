"""python -m collector serve | apps ...  (SPEC part 3: the command-line contract)."""

import argparse
import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m collector", description="The callstats collector.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve over TLS + HTTP/2")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8443)
    serve.add_argument("--data-dir", type=Path, default=Path("collector-data"))
    serve.add_argument("--database-url")
    serve.add_argument("--certfile", type=Path)
    serve.add_argument("--keyfile", type=Path)
    serve.add_argument("--dist", type=Path, default=ROOT / "dist")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args, parser)
    return 2


def _serve(args, parser) -> int:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    from .app import create_app
    from .tls import self_signed, spki_hash

    if bool(args.certfile) != bool(args.keyfile):
        parser.error("--certfile and --keyfile go together")
    certfile, keyfile = (args.certfile, args.keyfile) if args.certfile else self_signed(args.data_dir)
    config = Config()
    config.bind = [f"{args.host}:{args.port}"]
    config.certfile, config.keyfile = str(certfile), str(keyfile)
    config.alpn_protocols = ["h2", "http/1.1"]
    config.accesslog = None
    app = create_app(dist=args.dist)
    print(f"collector: https://{args.host}:{args.port}/  (HTTP/2, TLS)", flush=True)
    print(f"collector: certificate SPKI sha256: {spki_hash(certfile)}", flush=True)
    asyncio.run(serve(app, config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
