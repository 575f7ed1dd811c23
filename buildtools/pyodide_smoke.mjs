// Build check: boot the built assets (trimmed, precompiled stdlib and wheels) in Pyodide under Node
// and run what the client runs at start, so a module left out by mistake fails the build, not a page.
// It also records the order in which `import pyclient.browser` and building the validators
// complete their modules (dependencies first), which the loader follows to import them one per task (pyclient/boot.py).
// Usage: node pyodide_smoke.mjs <assets dir> <import order out.json>
import { writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const [assets, orderFile] = process.argv.slice(2);
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
const order = pyodide.runPython(`
import importlib.abc, importlib.machinery, json, sys

order = []

class Recording(importlib.abc.Loader):
    def __init__(self, name, loader):
        self.name, self.loader = name, loader
    def create_module(self, spec):
        return self.loader.create_module(spec)
    def exec_module(self, module):
        module.__loader__ = self.loader
        self.loader.exec_module(module)
        order.append(self.name)

class Recorder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = Recording(name, spec.loader)
                return spec
        return None

sys.meta_path.insert(0, Recorder())
import pyclient.browser, pyclient.models
for _ in pyclient.models.warm_steps():  # building validators imports more of pydantic, lazily
    pass
sys.meta_path.pop(0)
json.dumps(order)
`);
writeFileSync(orderFile, order);
pyodide.runPython(`
import json, jwt, pyclient.api, pyclient.models as m
from pyclient import answers
ok = m.adapter("initialize").validate_python({"AppID": "1", "AppSecret": "s", "localUserID": "u"})
token = jwt.encode({"userID": "u", "appID": "1"}, "s" * 32, algorithm="HS256")
assert jwt.decode(token, "s" * 32, algorithms=["HS256"])["appID"] == "1"
try:
    m.adapter("addNewFabric").validate_python({"pc": None})
except Exception as exc:
    assert "addNewFabric" in answers.describe("addNewFabric", exc, {"pc": None}, m.METHODS["addNewFabric"].arg_names)
`);
console.log("smoke: the built assets start and validate under Pyodide");
