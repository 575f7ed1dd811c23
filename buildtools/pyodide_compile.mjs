// Build step: precompile Python archives to bytecode with the very Pyodide the page will run
// (Python 3.14 in WebAssembly, under Node), so that the page skips compiling source at import.
// Usage: node pyodide_compile.mjs <pyodide dir> <jobs.json>
// jobs.json: [{src, dst, drop: [path prefixes to leave out]}]; each archive is rewritten with every
// .py replaced by a sourceless .pyc beside it (optimize=2: no docstrings or asserts), stored
// uncompressed (the server's Brotli compresses the whole better than zip's deflate per file).
import { readFileSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const [pyodideDir, jobsFile] = process.argv.slice(2);
const { loadPyodide } = await import(pathToFileURL(`${pyodideDir}/pyodide.mjs`).href);
const pyodide = await loadPyodide({ indexURL: `${pyodideDir}/` });

const COMPILE = `
import importlib._bootstrap_external as bx
import zipfile

def recompile(src, dst, drop):
    kept = 0
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            name = info.filename
            if info.is_dir() or any(name == d or name.startswith(d.rstrip("/") + "/") for d in drop):
                continue
            data = zin.read(name)
            if name.endswith(".py"):
                code = compile(data, name, "exec", dont_inherit=True, optimize=2)
                name, data = name + "c", bytes(bx._code_to_timestamp_pyc(code, 0, len(data)))
            zout.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data)
            kept += 1
    return kept
`;
pyodide.runPython(COMPILE);
const recompile = pyodide.globals.get("recompile");
for (const job of JSON.parse(readFileSync(jobsFile, "utf8"))) {
  pyodide.FS.writeFile("/tmp/src.zip", readFileSync(job.src));
  recompile("/tmp/src.zip", "/tmp/dst.zip", pyodide.toPy(job.drop || []));
  writeFileSync(job.dst, pyodide.FS.readFile("/tmp/dst.zip"));
}
