"""The loader's first handshake (web/handshake.js) and Python's (pyclient.handshake) are one
definition: the same inputs make the same bytes on the wire, and an answer reads the same. Run with
Node, the JavaScript as the loader bundles it."""

import json
import shutil
import subprocess

import pytest

from pyclient import auth, handshake
from pyclient.batches import Urls
from pyclient.models import ProxyConfig

from ..conftest import ROOT

USERS = ["alice", "alice smith", "ünïcödé 名前", "a+b/c?d=e&f@g", "!'()*~._-", "tab\tand\nnewline", "\u2028\x7f",
         "emoji 😀"]
APPS = ["123", "7"]
SECRETS = ["s3cr3t", "ü-secret with spaces and a long tail " * 3]
# answers to /authenticate, and how each reads
ANSWERS = [
    {"status": 200, "text": json.dumps({"access_token": "t", "token_type": "bearer", "expires_in": 7200})},
    {"status": 200, "text": json.dumps({"access_token": "t", "token_type": "Bearer"})},
    {"status": 200, "text": "not json"},
    {"status": 401, "text": json.dumps({"error": "invalid_grant", "error_description": "bad secret"})},
    {"status": 403, "text": "[1, 2]"},
    {"status": 500, "text": ""},
    {"status": None, "text": ""},
    {"error": "the server said no"},
]

SCRIPT = """
import { basicCode, form, outcome } from %(module)s;
const cases = JSON.parse(process.argv[1]);
const out = { codes: [], forms: [], outcomes: [] };
for (const [app, user, secret] of cases.codes) out.codes.push(await basicCode(app, user, secret, 1700000000));
for (const [user, app, code] of cases.forms) out.forms.push(form(user, app, code));
for (const answer of cases.answers) out.outcomes.push(outcome(answer, cases.messages));
console.log(JSON.stringify(out));
"""


def run_js(cases: dict) -> dict:
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    module = json.dumps((ROOT / "web" / "handshake.js").as_uri())
    done = subprocess.run(["node", "--input-type=module", "-e", SCRIPT % {"module": module}, json.dumps(cases)],
                          capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


def python_outcome(answer: dict) -> list:
    seen = []
    urls = Urls.of("https://collector.test/", ProxyConfig())
    shake = handshake.Handshake(None, "123", "alice", urls, None, lambda status, msg, told: seen.append([status, msg]),
                                None)
    shake._outcome(answer.get("status"), answer.get("text", ""), answer.get("error"))
    return seen[0]


def test_the_loader_makes_the_bytes_python_makes_and_reads_answers_alike():
    codes = [(app, user, secret) for app in APPS for user in USERS for secret in SECRETS]
    forms = [(user, app, auth.basic_code(app, user, "s")) for user in USERS for app in APPS]
    js = run_js({"codes": codes, "forms": forms, "answers": ANSWERS, "messages": handshake.OUTCOMES})
    assert js["codes"] == [auth.basic_code(app, user, secret, now=1700000000) for app, user, secret in codes]
    assert js["forms"] == [handshake.form(user, app, code) for user, app, code in forms]
    assert js["outcomes"] == [python_outcome(answer) for answer in ANSWERS]
