"""Every real sample in ../shared/data/formats, imported as a folder: every message counted independently."""

from __future__ import annotations

import csv
import json
import re
import zipfile

from click.testing import CliRunner

from chendian.cli import main


# independent_counts keys that are not the sample's file name.
SAMPLE_FILES = {"qq": "qq-group-excerpt-pseudonymized.txt", "copypaste": "langchain_wechat_chats.txt",
                "wecom": "wecom_msgaudit_official_doc_examples.jsonl", "telegram": "langchain_result.json",
                "telegram-html": "langchain_messages.html", "slack": "slack-export-viewer_testarchive.zip"}


def independent_counts(formats) -> dict[str, int]:
    counts = {}
    for path in sorted((formats / "pywxdump").glob("*.csv")):
        with open(path, encoding="utf-8-sig", newline="") as f:
            rows = list(csv.DictReader(f))
        # a row repeated with the same server id and the same content is one message exported twice
        counts[path.name] = len({(r["MsgSvrID"], r.get("msg", r.get("content"))) for r in rows})
    qq = (formats / "qq-classic-txt" / "qq-group-excerpt-pseudonymized.txt").read_text(encoding="utf-8-sig")
    counts["qq"] = len(re.findall(r"^\d{4}-\d{2}-\d{2} \d{1,2}:\d{2}:\d{2} .+$", qq, flags=re.M))
    paste = (formats / "wechat-pc-copypaste" / "langchain_wechat_chats.txt").read_text(encoding="utf-8")
    counts["copypaste"] = len(re.findall(r"^.+ \d{4}/\d{2}/\d{2} \d{1,2}:\d{2} [AP]M$", paste, flags=re.M))
    wecom = [json.loads(x) for x in (formats / "wecom-msgaudit").glob("*.jsonl").__next__().read_text().splitlines() if x]
    counts["wecom"] = sum(1 for r in wecom if r.get("action") != "switch")
    counts["telegram"] = len(json.loads((formats / "telegram" / "langchain_result.json").read_text())["messages"])
    # The HTML rendering of the same chat names no chat id, so its 4 messages land in a chat of their own.
    html = (formats / "telegram" / "langchain_messages.html").read_text(encoding="utf-8")
    counts["telegram-html"] = len(re.findall(r'class="message default[ "]', html))
    with zipfile.ZipFile(formats / "slack" / "slack-export-viewer_testarchive.zip") as z:
        counts["slack"] = sum(len(json.loads(z.read(n))) for n in z.namelist()
                              if re.search(r"/\d{4}-\d{2}-\d{2}\.json$", n))
    return counts


def test_every_sample_imports_every_message(shared_data, tmp_path):
    formats = shared_data / "formats"
    expected = independent_counts(formats)
    assert expected["qq"] == 220 and expected["slack"] == 158  # the sample sizes SOURCE.txt states
    assert expected["telegram"] == expected["telegram-html"] == 4
    ws = tmp_path / "ws"
    runner = CliRunner()
    runner.invoke(main, ["init", str(ws)])
    result = runner.invoke(main, ["-w", str(ws), "ingest", str(formats)])
    assert "Traceback" not in result.output
    failed = [line for line in result.output.splitlines() if line.startswith("✗")]
    # Only the provenance notes are not exports.
    assert failed and all("SOURCE.txt" in line for line in failed), failed
    assert "langchain_messages.html [telegram-html]: 4 messages read" in result.output
    assert result.exit_code == 1  # unreadable files are a non-zero exit, after everything else imported
    stats = json.loads(runner.invoke(main, ["-w", str(ws), "stats", "--json"]).output)
    assert stats["messages"] == sum(expected.values()), expected
    # File by file too, so one sample's loss cannot hide behind another's surplus.
    read = {re.sub(r".*/", "", m[1]): int(m[2])
            for m in re.finditer(r"^✓ (\S+) \[[\w-]+\]: (\d+) messages read", result.output, flags=re.M)}
    by_file = {SAMPLE_FILES.get(key, key): count for key, count in expected.items()}
    assert read == by_file
