"""Text: segmentation, sentence embeddings, analyzers and question similarity (knows nothing of threads or Q&A)."""

import hashlib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

HERE = Path(__file__).resolve().parent


def code_fingerprint(files, packages=()) -> str:
    """A hash of the source files a kept result was computed with and the versions of the packages it used
    (a dictionary inside jieba, pypinyin's tables): any change makes every key made with it new."""
    h = hashlib.blake2b(digest_size=8)
    for name in packages:
        try:
            h.update(f"{name} {version(name)}\x1f".encode())
        except PackageNotFoundError:
            h.update(f"{name} -\x1f".encode())
    for path in files:
        h.update(Path(path).read_bytes())
    return h.hexdigest()
