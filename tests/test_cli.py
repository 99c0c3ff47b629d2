"""The thin CLI, through click's runner, on a real database in a temporary folder."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import click
import pytest
import time_machine
from click.testing import CliRunner, Result

from digest.cli import main
from tests.conftest import FIXTURES, NOW
from tests.smtp_server import SmtpServer


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DIGEST_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(main, list(args), catch_exceptions=False)

    return invoke


def test_init_creates_database_and_a_config_with_a_fresh_secret(run, tmp_path: Path) -> None:
    result = run("init")
    assert result.exit_code == 0
    assert (tmp_path / "data" / "digest.db").exists()
    config = (tmp_path / "config" / "digest.toml").read_text()
    key_lines = [line for line in config.splitlines() if line.startswith("secret_key = ")]
    assert len(key_lines) == 1 and len(key_lines[0]) > 40
    again = run("init")
    assert (tmp_path / "config" / "digest.toml").read_text() == config
    assert again.exit_code == 0


def test_init_with_a_config_file_makes_the_data_folder_and_writes_no_other_config(
    run, tmp_path: Path
) -> None:
    mine = tmp_path / "elsewhere.toml"
    mine.write_text('[web]\nbase_url = "https://digest.example.org"\n', encoding="utf-8")
    result = run("init", "--config", str(mine))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "data" / "digest.db").exists()
    assert not (tmp_path / "config").exists()


def test_config_masks_secrets(run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_SMTP__PASSWORD", "hunter2")
    result = run("config")
    shown = json.loads(result.output)
    assert shown["smtp"]["password"] == "**********"
    assert "hunter2" not in result.output


def test_collect_then_list_as_json(run) -> None:
    batch = FIXTURES / "batches" / "2026-06-29.jsonl"
    result = run("collect", str(batch))
    assert result.exit_code == 0
    assert "166" in result.output
    lines = run("papers", "--batch", "1", "--json").output.splitlines()
    assert len(lines) == 166
    first = json.loads(lines[0])
    assert set(first) >= {
        "id",
        "title",
        "abstract",
        "authors",
        "categories",
        "published",
        "url",
        "source",
    }
    assert first["id"] == "2606.27531" and first["authors"][0] == "Ankur Purao"


def test_rerun_gives_an_empty_batch(run) -> None:
    page = str(FIXTURES / "hf-pages" / "page-a.txt")
    run("collect", page)
    run("collect", page)
    assert run("papers", "--batch", "2", "--json").output == ""


def test_a_failed_source_makes_the_exit_code_nonzero(run) -> None:
    html = str(FIXTURES / "feeds" / "other" / "html-error-page-served-as-feed.xml")
    good = str(FIXTURES / "feeds" / "hf-daily" / "hf_daily_papers_api_2026-05-29_30items.json")
    result = run("collect", html, good)
    assert result.exit_code == 1
    assert "not a feed: got an HTML page" in result.output
    assert len(run("papers", "--json").output.splitlines()) == 30


def test_format_can_be_forced(run) -> None:
    page = str(FIXTURES / "hf-pages" / "page-b.txt")
    assert run("collect", page, "--format", "jsonl").exit_code == 1
    assert run("collect", page, "--format", "hf-page").exit_code == 0


def test_collect_without_sources_says_what_to_do(run) -> None:
    result = CliRunner().invoke(main, ["collect"])
    assert result.exit_code == 2 and "no sources" in result.output


def test_configured_sources_are_collected(run, tmp_path: Path) -> None:
    config = tmp_path / "custom.toml"
    config.write_text(
        f'[[sources]]\nname = "batch"\nlocation = "{FIXTURES / "batches" / "2026-07-01.jsonl"}"\n'
    )
    result = run("collect", "--config", str(config))
    assert result.exit_code == 0 and "301" in result.output


def test_demo_runs_a_whole_day_on_the_samples(tmp_path) -> None:
    import mailbox

    from click.testing import CliRunner

    from digest.cli import main

    result = CliRunner().invoke(main, ["demo", "--dir", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    assert "sent: 2" in result.output
    assert "open the preview: python3 -m webbrowser file://" in result.output
    box = mailbox.Maildir(tmp_path / "demo" / "outbox", create=False)
    recipients = sorted(m["To"] for m in box)
    assert recipients == ["ada@example.org", "grace@example.org"]
    feeds = list((tmp_path / "demo" / "previews").glob("*.rss"))
    assert len(feeds) == 2
    preview = tmp_path / "demo" / "previews" / "ada@example.org.html"
    assert preview.is_file() and "language models" in preview.read_text()
    # a second run of the same day sends nothing more
    again = CliRunner().invoke(main, ["demo", "--dir", str(tmp_path / "demo")])
    assert again.exit_code == 0 and "sent: 0" in again.output
    assert len(mailbox.Maildir(tmp_path / "demo" / "outbox", create=False)) == 2


def test_profile_import_takes_json_lines_in_bulk(run, tmp_path: Path) -> None:
    lines = [
        {"email": f"r{i}@example.org", "profiles": [{"name": "main", "keywords": ["graph"]}]}
        for i in range(30)
    ]
    path = tmp_path / "readers.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = run("profile", "import", str(path))
    assert result.exit_code == 0 and "imported 30 subscribers, 30 profiles" in result.output
    exported = run("profile", "export", "r7@example.org").output
    assert 'email = "r7@example.org"' in exported and '"graph"' in exported


def test_a_bad_line_in_a_bulk_import_names_the_line_and_changes_nothing(
    run, tmp_path: Path
) -> None:
    good = {"email": "ok@example.org", "profiles": [{"name": "main", "keywords": ["graph"]}]}
    bad = {"email": "bad@example.org", "profiles": []}
    path = tmp_path / "readers.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    result = run("profile", "import", str(path))
    assert result.exit_code == 1 and "readers.jsonl:2" in result.output
    assert "no subscriber" in run("profile", "export", "ok@example.org").output


def test_refit_needs_papers_then_fits(run) -> None:
    assert run("refit").exit_code == 1
    run("collect", str(FIXTURES / "batches" / "2026-06-30.jsonl"))
    result = run("refit")
    assert result.exit_code == 0 and "fitted" in result.output


@pytest.mark.parametrize("command", [["run"], ["schedule"], ["serve"]])
def test_a_short_secret_is_one_clear_line_not_a_traceback(
    run, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.setenv("DIGEST_SECRET_KEY", "short")
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 2
    assert "secret_key must be at least 16 characters" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", [["schedule"], ["serve"]])
def test_no_secret_is_one_clear_line_and_exit_2(run, command: list[str]) -> None:
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: secret_key is not set")
    assert len(result.output.splitlines()) == 1


@pytest.mark.parametrize("command", [["config"], ["schedule"], ["serve"], ["run"]])
def test_a_bad_collect_cron_stops_every_command_with_one_line(
    run, tmp_path: Path, command: list[str]
) -> None:
    config = tmp_path / "cron.toml"
    config.write_text(f'secret_key = "{"k" * 32}"\n[schedule]\ncollect_cron = "every day"\n')
    result = CliRunner().invoke(main, [*command, "--config", str(config)])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"Error: {config}: schedule.collect_cron: not a crontab")
    assert len(result.output.splitlines()) == 1


def test_settings_errors_name_the_file_or_variable(
    run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[web\n")
    result = CliRunner().invoke(main, ["config", "--config", str(broken)])
    assert result.exit_code == 2 and f"{broken}: not valid TOML" in result.output
    monkeypatch.setenv("DIGEST_CONFIG", "/nope.toml")
    result = CliRunner().invoke(main, ["config"])
    assert result.exit_code == 2
    assert "config file not found: /nope.toml (named by $DIGEST_CONFIG)" in result.output
    result = CliRunner().invoke(main, ["demo", "--dir", str(tmp_path / "demo")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "config file not found: /nope.toml" in result.output
    monkeypatch.delenv("DIGEST_CONFIG")
    monkeypatch.setenv("DIGEST_WEB__BASE_URL", "localhost:8000")
    result = CliRunner().invoke(main, ["config"])
    assert result.exit_code == 2
    assert result.output.startswith("Error: $DIGEST_WEB__BASE_URL: web.base_url: must be")


@pytest.mark.parametrize(
    "command",
    [
        ["collect", str(FIXTURES / "hf-pages" / "page-a.txt")],
        ["papers"],
        ["refit"],
        ["run"],
        ["preview", "ada@example.org"],
        ["profile", "export", "ada@example.org"],
        ["schedule"],
        ["serve"],
    ],
)
def test_commands_before_init_say_so_and_make_no_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DIGEST_SECRET_KEY", "k" * 32)
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 2, result.output
    assert result.output == (
        f"Error: no data folder at {tmp_path / 'digest-data'}: run `digest init` "
        "(or point data_dir at the existing one)\n"
    )
    assert not (tmp_path / "digest-data").exists()
    assert CliRunner().invoke(main, ["init"]).exit_code == 0
    assert CliRunner().invoke(main, ["papers"]).exit_code == 0


def test_run_only_an_unknown_reader_says_there_is_none(run, monkeypatch) -> None:
    monkeypatch.setenv("DIGEST_SECRET_KEY", "k" * 32)
    result = run("run", "--only", "nobody@example.org", "--no-collect")
    assert result.exit_code == 1
    assert result.output == "Error: no subscriber nobody@example.org\n"


def _readers(tmp_path: Path) -> list[str]:
    paths = []
    for name in ("ada", "bob"):
        path = tmp_path / f"{name}.toml"
        path.write_text(
            f'email = "{name}@example.org"\nsend_hour = 6\n'
            '[[profiles]]\nname = "models"\nkeywords = ["language model", "graph"]\n'
        )
        paths.append(str(path))
    return paths


def test_subscribers_and_the_days_ledger_are_listed_shown_and_deleted(
    run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DIGEST_SECRET_KEY", "k" * 32)
    run("profile", "import", *_readers(tmp_path))
    run("collect", str(FIXTURES / "batches" / "2026-06-30.jsonl"))
    with time_machine.travel(NOW, tick=False):
        assert run("run", "--no-collect", "--workers", "1").exit_code == 0
    listed = run("subscribers").output.splitlines()
    assert listed[0].split() == ["email", "status", "when", "last", "digest"]
    assert listed[1].split() == [
        "ada@example.org", "active", "daily", "06:00", "UTC", "2026-11-20", "sent",
    ]  # fmt: skip
    assert len(listed) == 3
    shown = run("subscribers", "show", "bob@example.org").output
    assert "digest: every day at 06:00 UTC, by email and rss" in shown
    assert "2026-11-20  sent    <" in shown
    ledger = run("deliveries", "--day", "2026-11-20").output.splitlines()
    assert ledger[0].split() == ["reader", "status", "attempts", "message", "id", "error"]
    assert [line.split()[:3] for line in ledger[1:]] == [
        ["ada@example.org", "sent", "1"],
        ["bob@example.org", "sent", "1"],
    ]
    assert run("deliveries", "--day", "2026-11-19").output == "no digests recorded for 2026-11-19\n"
    refused = CliRunner().invoke(main, ["subscribers", "delete", "bob@example.org"], input="n\n")
    assert refused.exit_code == 1 and "Aborted" in refused.output
    assert "bob@example.org" in run("subscribers", "list").output
    gone = run("subscribers", "delete", "bob@example.org", "--yes")
    assert gone.output == "deleted bob@example.org\n"
    assert "bob@example.org" not in run("subscribers").output
    assert "bob@example.org" not in run("deliveries", "--day", "2026-11-20").output
    assert run("subscribers", "show", "bob@example.org").exit_code == 1
    assert run("subscribers", "delete", "bob@example.org", "--yes").exit_code == 1


def test_dry_run_says_who_would_get_what_and_when_the_others_are_due(
    run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DIGEST_SECRET_KEY", "k" * 32)
    ada, _ = _readers(tmp_path)
    weekly = tmp_path / "cy.toml"
    weekly.write_text(
        'email = "cy@example.org"\nsend_hour = 7\ntimezone = "Europe/Berlin"\n'
        'cadence = "weekly"\nweekdays = [0, 3]\n'
        '[[profiles]]\nname = "graphs"\nkeywords = ["graph"]\n'
    )
    run("profile", "import", ada, str(weekly))
    run("collect", str(FIXTURES / "batches" / "2026-06-30.jsonl"))
    with time_machine.travel(NOW, tick=False):  # a Friday, 06:00 UTC
        result = run("run", "--dry-run")
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()  # after the progress bar's blank line
    assert lines[0] == "due: 1 · would send: 1 · not due: 1"
    assert lines[1].startswith("ada@example.org (2026-11-20): ") and "papers" in lines[1]
    pick = re.compile(r"  \[models\] .+ \(\S+\): .*(language model|graph)")
    assert lines[2:-1] and all(pick.match(line) for line in lines[2:-1])
    assert lines[-1] == "cy@example.org: not due; next 2026-11-23 07:00 Europe/Berlin (Mon)"


def test_a_run_says_where_mail_went_and_verbose_who_got_what(
    run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DIGEST_SECRET_KEY", "k" * 32)
    run("profile", "import", *_readers(tmp_path))
    run("collect", str(FIXTURES / "batches" / "2026-06-30.jsonl"))
    with time_machine.travel(NOW, tick=False):
        result = run("run", "--no-collect", "--workers", "1", "-v")
    assert result.exit_code == 0, result.output
    assert f"mail: Maildir {tmp_path / 'data' / 'outbox'}\n" in result.output
    got = [line for line in result.output.splitlines() if line.startswith("  ")]
    assert [line.split(":")[0] for line in got] == [
        "  ada@example.org (2026-11-20)",
        "  bob@example.org (2026-11-20)",
    ]
    assert all(re.search(r": sent, (\d+) papers \(models \1\)$", line) for line in got)


def test_a_dead_relay_fails_the_run_and_a_rerun_of_a_long_gone_day_sends(
    run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    monkeypatch.setenv("DIGEST_SECRET_KEY", "k" * 32)
    for name, value in {
        "MAIL__MAILER": "smtp",
        "MAIL__RETRIES": "0",
        "SMTP__HOST": smtp_server.host,
        "SMTP__PORT": "1",  # nothing listens there
        "SMTP__SECURITY": "plain",
    }.items():
        monkeypatch.setenv(f"DIGEST_{name}", value)
    run("profile", "import", *_readers(tmp_path))
    run("collect", str(FIXTURES / "batches" / "2026-06-30.jsonl"))
    args = ("run", "--no-collect", "--workers", "1", "--date", "2026-09-01")
    with time_machine.travel(NOW, tick=False):
        down = run(*args)
    assert down.exit_code == 1, down.output
    assert "sent: 0" in down.output and "deferred: 2" in down.output
    assert f"mail: SMTP relay {smtp_server.host}:1 (plain)" in down.output
    monkeypatch.setenv("DIGEST_SMTP__PORT", str(smtp_server.port))
    with time_machine.travel(NOW + timedelta(days=1), tick=False):
        back = run(*args)
    assert back.exit_code == 0, back.output
    assert "sent: 2" in back.output and "finished 2 left owed by earlier runs" in back.output
    assert sorted(str(m["To"]) for m in smtp_server.messages) == [
        "ada@example.org",
        "bob@example.org",
    ]


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        found.append((*path, name))
        if isinstance(command, click.Group):
            found += _commands(command, (*path, name))
    return found


@pytest.mark.parametrize("path", _commands(main), ids=" ".join)
def test_help_shows_each_example_on_a_line_of_its_own(path: tuple[str, ...]) -> None:
    command: click.Command = main
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    examples = [
        line.strip()
        for line in (command.help or "").splitlines()
        if line.strip().startswith(("digest ", "DIGEST_"))
    ]
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0
    shown = [line.strip() for line in result.output.splitlines()]
    assert all(example in shown for example in examples), result.output
    if not isinstance(command, click.Group) or path == ("subscribers",):
        assert examples, f"`digest {' '.join(path)}` has no example"


def test_collect_shows_source_names_whole(run, tmp_path: Path) -> None:
    name = "arxiv-computer-science-machine-learning-and-computation-and-language"
    config = tmp_path / "long.toml"
    config.write_text(
        f'[[sources]]\nname = "{name}"\nlocation = "{FIXTURES / "batches" / "2026-07-01.jsonl"}"\n'
    )
    result = run("collect", "--config", str(config))
    assert result.exit_code == 0
    assert f"{name}  371      301  0        ok" in result.output.splitlines()


def test_init_writes_an_example_profile_that_imports(run, tmp_path: Path) -> None:
    result = run("init")
    example = tmp_path / "config" / "profiles" / "example.toml"
    assert f"wrote {Path('config') / 'profiles' / 'example.toml'}" in result.output
    assert (
        example.read_text() == (FIXTURES.parent.parent / "config/profiles/example.toml").read_text()
    )
    example.write_text(example.read_text() + "\n# mine\n")
    run("init")
    assert example.read_text().endswith("# mine\n")  # an edited file is left alone
    assert run("profile", "import", str(example)).exit_code == 0


def test_export_leaves_weekdays_out_for_daily_readers(run, tmp_path: Path) -> None:
    daily, _ = _readers(tmp_path)
    weekly = tmp_path / "cy.toml"
    weekly.write_text(
        'email = "cy@example.org"\ncadence = "weekly"\nweekdays = [1, 4]\n'
        '[[profiles]]\nname = "graphs"\nkeywords = ["graph"]\n'
    )
    run("profile", "import", daily, str(weekly))
    assert "weekdays" not in run("profile", "export", "ada@example.org").output
    assert "weekdays = [\n    1,\n    4,\n]" in run("profile", "export", "cy@example.org").output
