"""The README's curl examples, run as written (only the port differs) against `picsmith serve`
on the embedded default (local files + SQLite in the working folder), started as a user would."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import FIXTURES, REPO, corpus_file

import picsmith

SEPARATOR = "----- next example -----"
PYTHON_PATH = str(REPO / "python") + os.pathsep + os.environ.get("PYTHONPATH", "")


def readme_shell_block(containing: str) -> list[str]:
    """The command lines of the README's ``sh`` block that contains ``containing``."""
    blocks = re.findall(r"```sh\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    block = next(b for b in blocks if containing in b)
    return [line for line in block.splitlines() if line.strip()]


def run_examples(lines: list[str], port: int, cwd: Path) -> list[str]:
    """Runs the lines in one shell, in order; answers each command's output."""
    commands = [line.replace("localhost:8080", f"127.0.0.1:{port}") for line in lines
                if not line.lstrip().startswith("#")]
    script = f"\necho; echo '{SEPARATOR}'\n".join(commands)
    result = subprocess.run(
        ["bash", "-c", script], cwd=cwd, env=server_environment(), capture_output=True,
        text=True, errors="replace", timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    return [part.strip() for part in result.stdout.split(SEPARATOR)]


def server_environment() -> dict[str, str]:
    """The environment of a fresh shell: no picsmith settings, the `picsmith` command on PATH."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PICSMITH_")}
    environment["PATH"] = str(Path(sys.executable).parent) + os.pathsep + environment["PATH"]
    environment["PYTHONPATH"] = PYTHON_PATH
    return environment


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[int]:
    """`picsmith serve --port P` in tmp_path, as `make serve` starts it; answers the port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "picsmith.cli", "serve", "--port", str(port)], cwd=tmp_path,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=server_environment(),
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "no server"
            time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_server_examples_for_the_four_apis(serve: int, tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "gray-320.jpg", tmp_path / "cat.jpg")
    lines = readme_shell_block("picsmith keys create")
    key_line, *outputs = run_examples(lines, serve, tmp_path)
    assert key_line == "", "the key is captured, not printed"
    chevereto, imagekit, imageresizer, imagizer_storage, imagizer_path, transform = outputs
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/\S+\.jpg", chevereto), chevereto
    assert json.loads(imagekit)["filePath"] == "/pets/cat.jpg", imagekit
    created = json.loads(imageresizer)
    assert created["success"] is True and created["response"]["tags"] == ["cat"], created
    assert set(json.loads(imagizer_storage)) == {"url", "width", "height"}, imagizer_storage
    assert json.loads(imagizer_path)["width"] == 300, imagizer_path
    assert transform == ""
    small = picsmith.process((tmp_path / "small.webp").read_bytes())
    assert (small.format, small.width) == ("webp", 320)  # never enlarged past the original


def test_http_examples_answer_as_shown(serve: int, tmp_path: Path) -> None:
    originals = tmp_path / "picsmith-data" / "originals"
    shutil.copy(FIXTURES / "gray-320.jpg", originals / "photo.jpg")
    lines = readme_shell_block("width=0")
    shown_error = next(line for line in lines if line.startswith("# 400 "))
    webp, error = run_examples(lines, serve, tmp_path)
    assert webp.startswith("RIFF") and "WEBP" in webp[:12]  # the image itself, on stdout
    assert json.loads(error) == json.loads(shown_error.removeprefix("# 400 "))


def test_quick_start_serves_a_copied_corpus_photo(serve: int, tmp_path: Path) -> None:
    lines = readme_shell_block("make serve")
    assert lines[0].startswith("make serve")
    copy = lines[1]
    source = corpus_file(Path(copy.split()[1]).name)
    run_examples([copy.replace("../shared/corpus/", f"{source.parent}/"), *lines[2:]], serve,
                 tmp_path)
    small = picsmith.process((tmp_path / "small.webp").read_bytes())
    assert (small.format, small.width) == ("webp", 400)
