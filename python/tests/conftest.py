"""Shared locations: the repository's test vectors and the image corpus beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VECTORS = REPO / "tests" / "vectors"
FIXTURES = REPO / "tests" / "fixtures"
CORPUS = Path(os.environ.get("PICSMITH_CORPUS") or REPO.parent / "shared" / "corpus")


def corpus_file(name: str) -> Path:
    """The corpus file ``name``; skips the calling test when the corpus is not present."""
    if not CORPUS.is_dir():
        pytest.skip(f"image corpus not found at {CORPUS} (set PICSMITH_CORPUS to its folder)")
    path = CORPUS / name
    if not path.is_file():
        pytest.fail(f"corpus file {name} is missing from {CORPUS}")
    return path


def corpus_bytes(name: str) -> bytes:
    return corpus_file(name).read_bytes()
