"""Stop after question k, start a new process on the same database: /baocao continues at
question k+1 with answers 1..k intact. Real `python -m bot chat` processes, stdin piped."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from db.engine import Database
from tests.answers import ANSWERS
from tests.processes import TEST_CASE_KEYS
from tests.test_report_flow import stored

ORDER = [
    "plan_issued",
    "plan_date",
    "focal_point",
    "committee_meetings",
    "committee_updated",
    "comm_sessions",
    "comm_participants",
]


def run_chat(env: dict[str, str], lines: list[str]) -> str:
    res = subprocess.run(
        [sys.executable, "-m", "bot", "chat", "--user", "lan"],
        input="\n".join(lines) + "\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


async def test_resume_after_restart(demo_db: Database, db_config: dict) -> None:
    from handlers.registration import new_invite
    from tests.conftest import local

    env = {**os.environ, "DATABASE_URL": db_config["url"], "BDG_FAKE_NOW": "2026-11-25T09:00"}
    if db_config["schema"]:
        env["BDG_DB_SCHEMA"] = db_config["schema"]
        # PostgreSQL refuses to start without shared case keys (bot.app.check_case_keys).
        env["BDG_CASE_KEYS"] = TEST_CASE_KEYS
    code = await new_invite(demo_db, "28303", now=local("2026-11-25T08:00"))
    k = 6
    out = run_chat(
        env,
        [
            f"/start {code}",
            "Nguyễn Thị Lan",
            "Công chức",
            "/baocao",
            *[ANSWERS[q][0] for q in ORDER[:k]],
        ],
    )
    assert "Câu 7/" in out  # the process was asked question k+1 and then stopped
    out = run_chat(env, ["/baocao"])
    assert "Đã trả lời 6 câu" in out
    assert re.search(r"Câu 7/\d+: Số người tham dự truyền thông trực tiếp", out)
    _, values = await stored(demo_db, "2026")
    assert values == {q: ANSWERS[q][1] for q in ORDER[:k]}
