"""W8: `picsmith serve` and thumbor under the same load from wrk, one after the other; prints JSON.

Usage: server.py THUMBOR_EXECUTABLE WORK_DIR. Each server is started on a free 127.0.0.1 port
in a session of its own, checked with one request (status, image size, and for picsmith that
its derived cache missed), warmed up for two seconds, then loaded for
$PICSMITH_BENCH_SERVER_SECONDS (default 60) with workloads.json's connection count, and
stopped, with every process of its session, whatever happens.
"""
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from PIL import Image

SPEC = json.loads((Path(__file__).parent / "workloads.json").read_text())
SERVER = SPEC["server"]
SECONDS = int(os.environ.get("PICSMITH_BENCH_SERVER_SECONDS", "60"))
WARMUP_SECONDS = 2
CORPUS = Path(os.environ["PICSMITH_CORPUS"])
OUT = Path(os.environ.get("PICSMITH_BENCH_OUT", "target/bench/out"))
PICSMITH = Path(sys.executable).parent / "picsmith"
CORES = os.cpu_count()


def log(message):
    print(f"bench: {message}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=30):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, dict(response.headers), response.read()


@contextmanager
def running(command, env, log_path, ready_url):
    with open(log_path, "w") as log_file:
        process = subprocess.Popen(command, env=os.environ | env, stdout=log_file,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited with {process.returncode}; see {log_path}")
            try:
                get(ready_url, timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{command[0]} did not answer in 60 s; see {log_path}")
                time.sleep(0.2)
        yield
    finally:
        # thumbor forks its workers: the whole session goes, not just the process started
        stop(process)


def stop(process):
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def duration_ms(text):
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def wrk(url, seconds):
    # A long timeout: wrk's default 2 s would drop, not count, the slowest answers under load
    command = ["wrk", f"-t{CORES}", f"-c{SERVER['connections']}", f"-d{seconds}s", "--timeout", "60s",
               "--latency", url]
    text = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", text, re.M))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
        "requests": int(re.search(r"(\d+) requests in", text).group(1)),
        "p50_ms": duration_ms(latency["50"]),
        "p99_ms": duration_ms(latency["99"]),
        "socket_errors": sum(int(n) for n in errors.groups()) if errors else 0,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "wrk": text,
    }


def check(name, url, expect_headers=None):
    """One request: the answer must be a JPEG of the fit size; the output is kept for SSIM."""
    status, headers, body = get(url)
    headers = {k.lower(): v for k, v in headers.items()}
    size = Image.open(io.BytesIO(body)).size
    if status != 200 or headers.get("content-type") != "image/jpeg" or list(size) != SPEC["fit"]:
        raise RuntimeError(f"{name}: {url} answered {status} {headers.get('content-type')} {size}")
    for header, value in (expect_headers or {}).items():
        if headers.get(header) != value:
            raise RuntimeError(f"{name}: {header} is {headers.get(header)!r}, not {value!r}")
    path = OUT / SERVER["name"] / f"{name}.jpeg"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    return {"bytes": len(body), "output": str(path)}


def load(name, url):
    # twice, so a second identical request is seen to miss any cache too
    result = check(name, url, {"x-picsmith-cache": "miss"} if name == "picsmith" else None)
    check(name, url, {"x-picsmith-cache": "miss"} if name == "picsmith" else None)
    subprocess.run(["wrk", f"-t{CORES}", f"-c{SERVER['connections']}", f"-d{WARMUP_SECONDS}s", url],
                   capture_output=True, check=True)
    log(f"W8: {name}, {SECONDS} s")
    return result | wrk(url, SECONDS)


def picsmith_server(work):
    data = work / "picsmith-data"
    (data / "originals").mkdir(parents=True, exist_ok=True)
    shutil.copy(CORPUS / SERVER["input"], data / "originals" / SERVER["input"])
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"PICSMITH_CACHE": "off", "PICSMITH_ACCESS_LOG": "false"}
    command = [str(PICSMITH), "serve", "--host", "127.0.0.1", "--port", str(port), "--data", str(data)]
    with running(command, env, work / "picsmith.log", base + "/health"):
        version = json.loads(get(base + "/health")[2])["version"]
        result = load("picsmith", base + SERVER["picsmith"])
    return {"name": f"picsmith serve {version} (1 process)"} | result


def thumbor_server(thumbor, work):
    conf = work / "thumbor.conf"
    conf.write_text(
        "# written by tests/bench/server.py: originals from the corpus, nothing stored\n"
        "LOADER = 'thumbor.loaders.file_loader'\n"
        f"FILE_LOADER_ROOT_PATH = {str(CORPUS.resolve())!r}\n"
        "STORAGE = 'thumbor.storages.no_storage'\n"
        "RESULT_STORAGE = None\n"
        "PROGRESSIVE_JPEG = False\n"
        f"QUALITY = {SPEC['quality']}\n"
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [thumbor, "--ip", "127.0.0.1", "--port", str(port), "--conf", str(conf),
               "--processes", str(CORES)]
    version_text = subprocess.run([thumbor, "--version"], capture_output=True, text=True).stdout
    version = re.search(r"v([\d.]+)", version_text).group(1)
    with running(command, {}, work / "thumbor.log", base + "/healthcheck"):
        result = load("thumbor", base + SERVER["thumbor"])
    return {"name": f"thumbor {version} ({CORES} processes)"} | result


def main(thumbor, work):
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    # a plain `kill` must still stop the servers: SystemExit runs the finally blocks
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results = {"picsmith": picsmith_server(work), "thumbor": thumbor_server(thumbor, work)}
    json.dump({"seconds": SECONDS, "connections": SERVER["connections"], "wrk_threads": CORES,
               "results": results}, sys.stdout)


if __name__ == "__main__":
    main(*sys.argv[1:3])
