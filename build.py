"""python build.py -> dist/: the bundle a page loads with one script tag.

dist/
  callstats.js                     the loader (stable name: the page's script tag points here)
  callstats-<version>-<hash>/      everything else, under a content-hashed name (cache forever):
    host.mjs                       where Python runs (web/host.js): a dedicated worker, or the page
    pyodide.mjs, pyodide.asm.mjs, pyodide.asm.wasm, python_stdlib.zip   (npm `pyodide`, pinned)
    *.whl                          pydantic, pydantic-core, pyjwt, ... (PyPI, Pyodide platform, pinned)
    pyclient-<version>-py3-none-any.whl   our client (no collector code)
    pyodide-lock.json              only our packages, so Pyodide fetches them in parallel at boot
  demo/                            the demo call page (web/demo)
  dashboard/                       the collector's dashboard pages (web/dashboard) with uPlot (npm, pinned)
  manifest.json                    every file with its size and sha256
Every file also has .gz and .br beside it, for any static server that serves pre-compressed files.

Every downloaded input is checked against the sha256 pinned below; with a filled cache
(.cache/build/) a second build touches no network.
"""

import argparse
import gzip
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import brotli

ROOT = Path(__file__).resolve().parent
CACHE = ROOT / ".cache" / "build"
GENERATED = ROOT / ".cache" / "generated"

PYODIDE = {"version": "314.0.7", "sha256": "66b7949e5a0cba2250b586d7e368bf12fb482800748d182c4618254b685ffaa0"}
UPLOT = {"version": "1.6.32", "sha256": "4b8a8191e425658e3ea8c8c1314b0fc679c861ee3a1af2b20c7b16ba50b5133d"}
PYODIDE_FILES = ["pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip"]
PYODIDE_PLATFORM = ["--python-version", "3.14", "--implementation", "cp", "--abi", "cp314",
                    "--platform", "pyemscripten_2026_0_wasm32"]

# name -> (requirement, wheel file, sha256, import names, depends). Resolved once by hand with
# `pip download` for the Pyodide platform (ENVIRONMENT.md); never resolved in the page.
WHEELS = {
    "pydantic-core": ("pydantic-core==2.50.5", "pydantic_core-2.50.5-cp314-cp314-pyemscripten_2026_0_wasm32.whl",
                      "b2910ec0fa5aeb9bef70156f2b79f4783978fdcfaa7b2f1b5d1814458d2e79a1",
                      ["pydantic_core"], ["typing-extensions"]),
    "pydantic": ("pydantic==2.14.4", "pydantic-2.14.4-py3-none-any.whl",
                 "653a2ad9f6d8858529c77c72717d0ea991d6c6837fe683246b2f4b2bbfc3fadc",
                 ["pydantic"], ["typing-extensions", "pydantic-core", "annotated-types", "typing-inspection"]),
    "typing-extensions": ("typing-extensions==4.16.0", "typing_extensions-4.16.0-py3-none-any.whl",
                          "481caa481374e813c1b176ada14e97f1f67a4539ce9cfeb3f350d78d6370c2e8",
                          ["typing_extensions"], []),
    "annotated-types": ("annotated-types==0.8.0", "annotated_types-0.8.0-py3-none-any.whl",
                        "f072f4d804ea359e4eaf198b1af7a8b0943881a87f31bb764f8bf219bb9419e0",
                        ["annotated_types"], []),
    "typing-inspection": ("typing-inspection==0.4.5", "typing_inspection-0.4.5-py3-none-any.whl",
                          "bc210535442b39e1bf2805e0c7a17dfd6a4ace760c84c7f7d16245d23a6b1c39",
                          ["typing_inspection"], ["typing-extensions"]),
    "pyjwt": ("pyjwt==2.15.1", "pyjwt-2.15.1-py3-none-any.whl",
              "42d59d631f7768a1028a64c7ff581a9bf7519804daf91fc5b6c56e30eec5e193", ["jwt"], []),
    "micropip": ("micropip==0.11.1", "micropip-0.11.1-py3-none-any.whl",
                 "768de165adb8e66906039d8fec4127a57f522dfdf8e6fbff877a4616941ecfd3", ["micropip"], []),
}
PYCLIENT_DEPENDS = ["pydantic", "pyjwt"]
# the shared modules the client imports (tests/unit/test_shape.py checks that it needs no other)
BROWSER_CALLWIRE = ["__init__.py", "deltas.py", "figures.py", "quality.py"]

# Never imported by the client: left out of the page's download (the stdlib zip is 2.5 MB as shipped).
STDLIB_DROP = [
    "_pyrepl", "pdb.py", "pydoc.py", "pydoc_data", "doctest.py", "unittest", "multiprocessing", "xmlrpc",
    "xml", "wsgiref", "mailbox.py", "imaplib.py", "pickletools.py", "sqlite3", "dbm", "curses", "tomllib",
    "zipapp.py", "turtle.py", "__phello__", "ftplib.py", "poplib.py", "smtplib.py", "cProfile.py",
    "profile.py", "pstats.py", "trace.py", "tabnanny.py", "_pyio.py", "idlelib", "tkinter",
    "turtledemo", "lib2to3", "ensurepip", "venv", "test", "statistics.py", "plistlib.py", "html",
    "argparse.py", "optparse.py", "getopt.py", "configparser.py", "bdb.py", "difflib.py", "modulefinder.py",
    "wave.py", "ctypes", "_ast_unparse.py", "tracemalloc.py", "pprint.py", "http/server.py", "socketserver.py",
    "sched.py", "shelve.py", "timeit.py", "webbrowser.py", "cmd.py", "symtable.py", "filecmp.py", "fileinput.py",
    "netrc.py", "getpass.py", "pty.py", "tty.py", "colorsys.py", "graphlib.py",
] + [f"encodings/{name}" for name in (
    # every codec but the ones a UTF-8 JSON client can meet
    "big5.py", "big5hkscs.py", "cp037.py", "cp1006.py", "cp1026.py", "cp1125.py", "cp1140.py", "cp1250.py",
    "cp1251.py", "cp1252.py", "cp1253.py", "cp1254.py", "cp1255.py", "cp1256.py", "cp1257.py", "cp1258.py",
    "cp273.py", "cp424.py", "cp500.py", "cp720.py", "cp737.py", "cp775.py", "cp850.py", "cp852.py",
    "cp855.py", "cp856.py", "cp857.py", "cp858.py", "cp860.py", "cp861.py", "cp862.py", "cp863.py",
    "cp864.py", "cp865.py", "cp866.py", "cp869.py", "cp874.py", "cp875.py", "cp932.py", "cp949.py",
    "cp950.py", "euc_jis_2004.py", "euc_jisx0213.py", "euc_jp.py", "euc_kr.py", "gb18030.py", "gb2312.py",
    "gbk.py", "hp_roman8.py", "hz.py", "iso2022_jp.py", "iso2022_jp_1.py", "iso2022_jp_2.py",
    "iso2022_jp_2004.py", "iso2022_jp_3.py", "iso2022_jp_ext.py", "iso2022_kr.py", "iso8859_10.py",
    "iso8859_11.py", "iso8859_13.py", "iso8859_14.py", "iso8859_15.py", "iso8859_16.py", "iso8859_2.py",
    "iso8859_3.py", "iso8859_4.py", "iso8859_5.py", "iso8859_6.py", "iso8859_7.py", "iso8859_8.py",
    "iso8859_9.py", "johab.py", "koi8_r.py", "koi8_t.py", "koi8_u.py", "kz1048.py", "mac_arabic.py",
    "mac_croatian.py", "mac_cyrillic.py", "mac_farsi.py", "mac_greek.py", "mac_iceland.py", "mac_latin2.py",
    "mac_roman.py", "mac_romanian.py", "mac_turkish.py", "mbcs.py", "oem.py", "palmos.py", "ptcp154.py",
    "shift_jis.py", "shift_jis_2004.py", "shift_jisx0213.py", "tis_620.py", "cp1006.py", "mac_centeuro.py",
)]
WHEEL_DROP = {"pydantic": ["pydantic/v1", "pydantic/mypy.py", "pydantic/experimental"]}

COMPRESS = (".js", ".mjs", ".wasm", ".json", ".zip", ".whl", ".html", ".css")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checked(path: Path, expected: str) -> Path:
    actual = sha256(path)
    if actual != expected:
        path.unlink()
        sys.exit(f"build: {path.name}: sha256 {actual} is not the pinned {expected}")
    return path


def run(*cmd, cwd=ROOT) -> None:
    subprocess.run(cmd, cwd=cwd, check=True)


# ---- inputs ----

def fetch_npm(name: str, pin: dict) -> Path:
    """An npm package's files (npm pack, sha256-checked, unpacked once into the cache)."""
    tgz = CACHE / f"{name}-{pin['version']}.tgz"
    if not tgz.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        run("npm", "pack", f"{name}@{pin['version']}", "--pack-destination", str(CACHE), "--silent")
    checked(tgz, pin["sha256"])
    out = CACHE / f"{name}-{pin['version']}"
    if not (out / "package" / "package.json").exists():
        with tarfile.open(tgz) as tar:
            tar.extractall(out, filter="data")
    return out / "package"


def fetch_pyodide() -> Path:
    return fetch_npm("pyodide", PYODIDE)


def fetch_wheels() -> dict[str, Path]:
    paths = {}
    for name, (req, file_name, digest, _, _) in WHEELS.items():
        path = CACHE / file_name
        if not path.exists():
            CACHE.mkdir(parents=True, exist_ok=True)
            run(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                *PYODIDE_PLATFORM, "-d", str(CACHE), req)
        paths[name] = checked(path, digest)
    return paths


def build_tools() -> None:
    """ajv and esbuild, from package-lock.json (integrity-checked by npm); skipped when in place."""
    stamp = ROOT / "node_modules" / ".installed-lock.sha256"
    wanted = sha256(ROOT / "package-lock.json")
    if stamp.exists() and stamp.read_text() == wanted:
        return
    run("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
    stamp.write_text(wanted)


def build_pyclient_wheel(out: Path) -> Path:
    """Our wheel, written directly so that it is byte-for-byte reproducible (fixed dates, sorted).

    pyclient/, and of callwire/ what the browser imports (BROWSER_CALLWIRE): the collector and the
    protocol's models it validates with never reach the browser.
    """
    from pyclient import __version__

    dist_info = f"pyclient-{__version__}.dist-info"
    files = {f"pyclient/{p.name}": p.read_bytes() for p in sorted((ROOT / "pyclient").glob("*.py"))}
    files.update({f"callwire/{name}": (ROOT / "callwire" / name).read_bytes() for name in BROWSER_CALLWIRE})
    files[f"{dist_info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: pyclient\nVersion: {__version__}\n"
        + "".join(f"Requires-Dist: {r}\n" for r in _requirements())
    ).encode()
    files[f"{dist_info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: build.py\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = [f"{name},sha256={_b64digest(data)},{len(data)}" for name, data in files.items()]
    files[f"{dist_info}/RECORD"] = ("\n".join(record + [f"{dist_info}/RECORD,,"]) + "\n").encode()
    path = out / f"pyclient-{__version__}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        for name, data in files.items():
            wheel.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)
    return path


def _requirements() -> list[str]:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


def _b64digest(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


# ---- outputs ----

def lock_file(pyodide_dir: Path, shipped: dict[str, Path], pyclient: Path) -> dict:
    """Pyodide's lock format, listing only what we ship, with the hashes of the files as shipped."""
    info = json.loads((pyodide_dir / "pyodide-lock.json").read_text())["info"]
    packages = {}
    for name, (req, _, _, imports, depends) in WHEELS.items():
        path = shipped[name]
        packages[name] = _lock_entry(name, req.split("==")[1], path.name, sha256(path), imports, depends)
    from pyclient import __version__

    packages["pyclient"] = _lock_entry("pyclient", __version__, pyclient.name, sha256(pyclient),
                                       ["pyclient", "callwire"], PYCLIENT_DEPENDS)
    return {"info": info, "packages": packages}


def _lock_entry(name, version, file_name, digest, imports, depends) -> dict:
    return {"name": name, "version": version, "file_name": file_name, "install_dir": "site",
            "sha256": digest, "package_type": "package", "imports": imports, "depends": depends,
            "unvendored_tests": False, "tool": {}}


def compile_loader(assets_name: str, out: Path) -> None:
    from pyclient import __version__, answers, events, fabric, handshake, models, storage

    # what the loader must know as Python does: argument rules, wording, pc states, storage keys,
    # which reportError calls are logs, how the first handshake's answer reads
    api = models.api_schema()
    api.update(messages=answers.MESSAGES, version=__version__, assets=assets_name, packages=["pyclient"],
               pcStates={"stateOf": fabric.STATE_OF_EVENT, "connected": fabric.CONNECTED},
               storage={**storage.KEYS, "prefix": storage.PREFIX}, logOnly=list(events.LOG_ONLY),
               handshake={"grantType": handshake.GRANT_TYPE, "messages": handshake.OUTCOMES})
    GENERATED.mkdir(parents=True, exist_ok=True)
    (GENERATED / "api.json").write_text(json.dumps(api))
    run("node", "buildtools/compile_api.mjs", str(GENERATED / "api.json"), str(GENERATED / "api.mjs"))
    bundle("web/callstats.js", out, "--format=iife", f"--alias:callstats-generated={GENERATED / 'api.mjs'}")


def bundle(entry: str, out: Path, *options: str) -> None:
    run(str(ROOT / "node_modules" / ".bin" / "esbuild"), entry, "--bundle", "--minify", "--target=es2020",
        "--legal-comments=none", f"--outfile={out}", "--log-level=warning", *options)


def compress(folder: Path) -> None:
    """file.gz and file.br beside each file; Brotli at quality 11 is slow, so results are cached."""
    cache = CACHE / "compressed"
    cache.mkdir(parents=True, exist_ok=True)
    for path in sorted(folder.rglob("*")):
        if not (path.is_file() and path.suffix in COMPRESS):
            continue
        digest = sha256(path)
        for suffix, squeeze in ((".gz", lambda d: gzip.compress(d, 9, mtime=0)),
                                (".br", lambda d: brotli.compress(d, quality=11))):
            cached = cache / (digest + suffix)
            if not cached.exists():
                cached.write_bytes(squeeze(path.read_bytes()))
            shutil.copy(cached, path.with_name(path.name + suffix))


def content_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(folder).as_posix().encode() + sha256(path).encode())
    return digest.hexdigest()[:10]


def manifest(dist: Path) -> dict:
    files = {}
    for path in sorted(dist.rglob("*")):
        if path.is_file() and path.name != "manifest.json":
            files[path.relative_to(dist).as_posix()] = {"bytes": path.stat().st_size, "sha256": sha256(path)}
    return {"pyodide": PYODIDE["version"], "files": files}


def precompile(pyodide_dir: Path, jobs: list[tuple[Path, Path, list]]) -> None:
    """Every archive's .py -> .pyc, compiled by the Pyodide the page runs (results cached)."""
    cache = CACHE / "compiled"
    cache.mkdir(parents=True, exist_ok=True)
    tool = sha256(ROOT / "buildtools" / "pyodide_compile.mjs")
    todo, copies = [], []
    for src, dst, drop in jobs:
        key = hashlib.sha256(f"{sha256(src)}{tool}{sorted(drop)}".encode()).hexdigest()
        cached = cache / f"{key}{src.suffix}"
        if not cached.exists():
            todo.append({"src": str(src), "dst": str(cached), "drop": drop})
        copies.append((cached, dst))
    if todo:
        (GENERATED / "compile-jobs.json").write_text(json.dumps(todo))
        run("node", "buildtools/pyodide_compile.mjs", str(pyodide_dir), str(GENERATED / "compile-jobs.json"))
    for cached, dst in copies:
        shutil.copy(cached, dst)


def build(dist: Path) -> Path:
    pyodide_dir = fetch_pyodide()
    wheels = fetch_wheels()
    build_tools()
    GENERATED.mkdir(parents=True, exist_ok=True)
    staging = dist.parent / (dist.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    assets = staging / "assets"
    assets.mkdir(parents=True)
    for name in PYODIDE_FILES:
        if name != "python_stdlib.zip":
            shutil.copy(pyodide_dir / name, assets / name)
    source_wheel = build_pyclient_wheel(GENERATED)
    jobs = [(pyodide_dir / "python_stdlib.zip", assets / "python_stdlib.zip", STDLIB_DROP),
            (source_wheel, assets / source_wheel.name, [])]
    jobs += [(path, assets / path.name, WHEEL_DROP.get(name, [])) for name, path in wheels.items()]
    precompile(pyodide_dir, jobs)
    shipped = {name: assets / path.name for name, path in wheels.items()}
    lock = lock_file(pyodide_dir, shipped, assets / source_wheel.name)
    (assets / "pyodide-lock.json").write_text(json.dumps(lock, indent=1))

    from pyclient import __version__

    run("node", "buildtools/pyodide_smoke.mjs", str(assets))
    bundle("web/host.js", assets / "host.mjs", "--format=esm")  # where Python runs: a worker, or the page
    assets_name = f"callstats-{__version__}-{content_hash(assets)}"
    assets.rename(staging / assets_name)
    compile_loader(assets_name, staging / "callstats.js")
    shutil.copytree(ROOT / "web" / "demo", staging / "demo")
    shutil.copytree(ROOT / "web" / "dashboard", staging / "dashboard")
    uplot = fetch_npm("uplot", UPLOT) / "dist"
    for name in ("uPlot.iife.min.js", "uPlot.min.css"):  # charts, bundled: no CDN
        for page in ("dashboard", "demo"):
            shutil.copy(uplot / name, staging / page / name)
    compress(staging)
    (staging / "manifest.json").write_text(json.dumps(manifest(staging), indent=1))
    shutil.rmtree(dist, ignore_errors=True)
    staging.rename(dist)
    return dist / assets_name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder (default dist/)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    assets = build(args.dist.resolve())
    total = sum(p.stat().st_size for p in assets.iterdir() if p.suffix not in (".gz", ".br"))
    print(f"build: {args.dist}/callstats.js + {assets.name}/ ({total / 1e6:.1f} MB before compression)")


if __name__ == "__main__":
    main()
