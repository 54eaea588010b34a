"""Search shows what the site shows: numbers and addresses masked, names as `[site] names` says, through
`chendian search` and the HTTP API alike (the index keeps the raw text it matches on)."""

from __future__ import annotations

import json
import threading
import urllib.parse
import urllib.request

import pytest
from click.testing import CliRunner

from chendian.cli import main
from chendian.search.api import make_server
from chendian.privacy import pseudonym

# An answer with a mobile number and an e-mail address, naming a colleague; the asker thanks it, so it is published.
CHAT = [
    {"chat": "g1", "id": "m1", "time": "2024-03-01T10:00:00", "sender": "zhangsan", "sender_name": "张三",
     "text": "请问报销发票找谁对接？电话多少？"},
    {"chat": "g1", "id": "m2", "time": "2024-03-01T10:01:00", "sender": "lisi", "sender_name": "李四",
     "text": "找财务王芳，电话13812345678，邮箱 wangfang@corp-example.com，或者问张三的组长"},
    {"chat": "g1", "id": "m3", "time": "2024-03-01T10:02:00", "sender": "zhangsan", "sender_name": "张三",
     "text": "谢谢！"},
]


def build(root, names: str):
    runner = CliRunner()
    assert runner.invoke(main, ["init", str(root)]).exit_code == 0
    config = root / "chendian.toml"
    config.write_text(config.read_text(encoding="utf-8").replace('names = "real"', f'names = "{names}"', 1),
                      encoding="utf-8")
    (root / "inbox" / "chat.jsonl").write_text(
        "".join(json.dumps(m, ensure_ascii=False) + "\n" for m in CHAT), encoding="utf-8")
    result = runner.invoke(main, ["-w", str(root), "run", "-q"])
    assert result.exit_code == 0, result.output
    return runner


def api_hits(root, query: str) -> list[dict]:
    srv = make_server(root, "127.0.0.1", 0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/api/search?q={urllib.parse.quote(query)}"
        with urllib.request.urlopen(url, timeout=30) as r:
            return json.loads(r.read().decode("utf-8"))["hits"]
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.mark.parametrize("names", ["real", "pseudonym"])
def test_search_shows_answers_as_the_site_does(tmp_path, names):
    root = tmp_path / "ws"
    runner = build(root, names)
    hits = api_hits(root, "报销发票找谁")
    assert hits and hits[0]["kind"] == "faq"
    answer = hits[0]["answer"]
    assert "13812345678" not in answer and "wangfang@corp-example.com" not in answer
    assert "138****5678" in answer and "[邮箱已隐藏]" in answer
    cli = runner.invoke(main, ["-w", str(root), "search", "报销发票找谁"]).output
    assert "13812345678" not in cli and "138****5678" in cli
    if names == "pseudonym":
        # a member named inside the text is shown under the pseudonym the site gives them
        assert "张三" not in answer and pseudonym("zhangsan") in answer
        assert "张三" not in cli
    else:
        assert "张三" in answer
    # the site says the same
    site = "".join(p.read_text(encoding="utf-8") for p in (root / "site").rglob("*.html"))
    assert "13812345678" not in site and "138****5678" in site
