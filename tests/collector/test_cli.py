"""The command-line contract (SPEC part 3): JSON on stdout, exit 2 and one line on stderr when wrong."""

import json
import subprocess
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ..servers import ROOT


def cli(*args):
    return subprocess.run([sys.executable, "-m", "collector", *args], cwd=ROOT, capture_output=True, text=True)


def test_apps_commands(tmp_path):
    data = ("--data-dir", str(tmp_path))
    made = cli("apps", "create", "--name", "shop", "--origin", "https://shop.example", *data)
    assert made.returncode == 0, made.stderr
    app = json.loads(made.stdout)
    assert set(app) == {"appID", "appSecret", "readKey"} and app["appID"].isdigit()
    listed = json.loads(cli("apps", "list", *data).stdout)
    assert listed == [{"appID": app["appID"], "name": "shop", "origins": ["https://shop.example"]}]
    origins = cli("apps", "set-origins", "--app", app["appID"], "https://a.example", "https://b.example", *data)
    assert json.loads(origins.stdout)["origins"] == ["https://a.example", "https://b.example"]
    pem = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "key.pem").write_bytes(pem)
    added = cli("apps", "add-key", "--app", app["appID"], "--key-id", "k1", "--public-key",
                str(tmp_path / "key.pem"), *data)
    assert json.loads(added.stdout) == {"appID": app["appID"], "keyID": "k1"}


def test_bad_arguments_exit_2_with_one_line(tmp_path):
    data = ("--data-dir", str(tmp_path))
    (tmp_path / "junk.pem").write_text("not a key")
    for args in (("apps", "create", *data),  # --name missing
                 ("apps", "set-origins", "--app", "12345", *data),  # no such app
                 ("apps", "add-key", "--app", "x", "--key-id", "k", "--public-key", "f", *data),
                 ("serve", "--port", "nope"),
                 ("serve", "--certfile", "only-one.pem"),
                 ("serve", "--retain-days", "0", *data),
                 ("serve", "--workers", "0", *data),
                 ("frobnicate",)):
        done = cli(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, (args, done.stderr)
        assert done.stdout == ""
    app = json.loads(cli("apps", "create", "--name", "x", *data).stdout)
    junk = cli("apps", "add-key", "--app", app["appID"], "--key-id", "k", "--public-key", str(tmp_path / "junk.pem"), *data)
    assert junk.returncode == 2 and "--public-key" in junk.stderr
