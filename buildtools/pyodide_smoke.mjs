// Build check: boot the built assets (trimmed, precompiled stdlib and wheels) in Pyodide under Node
// and run what the client runs at start, so a module left out by mistake fails the build, not a page.
// Usage: node pyodide_smoke.mjs <assets dir>
import { pathToFileURL } from "node:url";

const [assets] = process.argv.slice(2);
const base = `${assets}/`;
const { loadPyodide } = await import(pathToFileURL(`${base}pyodide.mjs`).href);
// Pyodide reports a package that failed to install on the console and carries on: fail on it here.
const complaints = [];
const consoleError = console.error;
console.error = (...args) => complaints.push(args.join(" "));
const pyodide = await loadPyodide({
  stderr: (line) => complaints.push(line),
  indexURL: base,
  lockFileURL: `${base}pyodide-lock.json`,
  packageBaseUrl: base,
  packages: ["pyclient"],
});
console.error = consoleError;
if (complaints.length) {
  console.error("smoke: Pyodide complained while installing the packages:\n" + complaints.join("\n"));
  process.exit(1);
}
pyodide.runPython(`
import json, jwt, pyclient.api, pyclient.browser, pyclient.models as m
from pyclient import answers
m.warm()
ok = m.adapter("initialize").validate_python({"AppID": "1", "AppSecret": "s", "localUserID": "u"})
token = jwt.encode({"userID": "u", "appID": "1"}, "s" * 32, algorithm="HS256")
assert jwt.decode(token, "s" * 32, algorithms=["HS256"])["appID"] == "1"
try:
    m.adapter("addNewFabric").validate_python({"pc": None})
except Exception as exc:
    assert "addNewFabric" in answers.describe("addNewFabric", exc, {"pc": None}, m.METHODS["addNewFabric"].arg_names)
`);
console.log("smoke: the built assets start and validate under Pyodide");
