from __future__ import annotations

import email
import json
from email import policy
from pathlib import Path

import pytest
from click.testing import CliRunner

from digest.cli import main
from digest.day.run import run_day
from digest.day.shard import open_store
from digest.day.sources import collect_sources
from digest.profiles import (
    ProfileFileError,
    dump_subscriber_file,
    load_profile_file,
    load_subscriber_file,
)
from digest.settings import Settings, SourceSettings
from digest.store import Store
from tests.conftest import FIXTURES, NOW

EXAMPLE = Path(__file__).parent.parent / "config" / "profiles" / "example.toml"


def point_cli_at(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands run by the test read the test's data folder and database."""
    monkeypatch.setenv("DIGEST_DATA_DIR", str(settings.data_dir))
    if settings.database_url:
        monkeypatch.setenv("DIGEST_DATABASE_URL", settings.database_url)


def test_the_example_file_loads_and_round_trips_exactly(tmp_path: Path) -> None:
    sub = load_subscriber_file(EXAMPLE)
    assert [p.name for p in sub.profiles] == ["diffusion models", "information theory"]
    assert sub.profiles[0].keywords[1].weight == 2.0
    text = dump_subscriber_file(sub)
    copy = tmp_path / "copy.toml"
    copy.write_text(text)
    again = load_subscriber_file(copy)
    assert again == sub
    assert dump_subscriber_file(again) == text


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            'email = "a@example.org"\n[[profiles]]\nname = "x"\nmax_papers = "lots"\n',
            "profiles[0].max_papers: Input should be a valid integer",
        ),
        (
            'email = "a@example.org"\n[[profiles]]\nname = "x"\ncolour = "red"\n',
            "profiles[0].colour: Extra inputs are not permitted",
        ),
        (
            'email = "a@example.org"\n[[profiles]]\nname = "x"\n[[profiles]]\nname = "x"\n',
            "profiles: Value error, profile names must be unique",
        ),
        ('email = "not an address"\n[[profiles]]\nname = "x"\n', "email: Value error"),
        (
            'email = "zoë@example.org"\n[[profiles]]\nname = "x"\n',
            "email: Value error, mail can only go to addresses that are plain ASCII",
        ),
        (
            'email = "a@example.org"\ntimezone = "Mars/Base"\n[[profiles]]\nname = "x"\n',
            "unknown time zone",
        ),
        ('email = "a@example.org"\n[[profiles]\nname = "x"\n', "not valid TOML"),
        ('email = "a@example.org"\n', "profiles: Field required"),
    ],
)
def test_bad_files_name_the_file_the_field_and_the_reason(
    tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(content)
    with pytest.raises(ProfileFileError) as caught:
        load_subscriber_file(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert expected in str(caught.value)


def test_import_then_export_through_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings
) -> None:
    point_cli_at(settings, monkeypatch)
    settings.data_dir.mkdir()
    runner = CliRunner()
    assert runner.invoke(main, ["profile", "import", str(EXAMPLE)]).exit_code == 0
    exported = runner.invoke(main, ["profile", "export", "ada@example.org"]).output
    assert exported == dump_subscriber_file(load_subscriber_file(EXAMPLE))


def test_a_bad_file_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings
) -> None:
    point_cli_at(settings, monkeypatch)
    settings.data_dir.mkdir()
    runner = CliRunner()
    runner.invoke(main, ["profile", "import", str(EXAMPLE)])
    broken = tmp_path / "ada.toml"
    broken.write_text(EXAMPLE.read_text().replace("max_papers = 15", "max_papers = 0"))
    result = runner.invoke(main, ["profile", "import", str(broken)])
    assert result.exit_code == 1
    assert f"{broken}: profiles[0].max_papers" in result.output
    store = Store.open(settings.db_url)
    sub = store.subscriber("ada@example.org")
    assert sub is not None and store.profiles(sub.id)[0].max_papers == 15
    store.close()


def test_import_cuts_an_overlong_seed_abstract_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings
) -> None:
    point_cli_at(settings, monkeypatch)
    settings.data_dir.mkdir()
    pasted = "We present diffusion models. " + "junk " * 5000
    toml = tmp_path / "ada.toml"
    toml.write_text(
        EXAMPLE.read_text().replace(
            'abstract = "We present high quality image synthesis results using diffusion '
            'probabilistic models."',
            f'abstract = "{pasted}"',
        )
    )
    bulk = tmp_path / "readers.jsonl"
    line = {
        "email": "bo@example.org",
        "profiles": [{"name": "p", "seed_papers": [{"abstract": pasted}]}],
    }
    bulk.write_text(json.dumps(line) + "\n")
    runner = CliRunner()
    result = runner.invoke(main, ["profile", "import", str(toml), str(bulk)])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"warning: {toml}: profiles[0].seed_papers[1].abstract: "
        f"cut from {len(pasted):,} to 20,000 characters",
        f"warning: {bulk}:1: profiles[0].seed_papers[0].abstract: "
        f"cut from {len(pasted):,} to 20,000 characters",
    ]
    store = Store.open(settings.db_url)
    for address, seed in (("ada@example.org", 1), ("bo@example.org", 0)):
        sub = store.subscriber(address)
        assert sub is not None
        abstract = store.profiles(sub.id)[0].seed_papers[seed].abstract
        assert abstract is not None and abstract.startswith("We present diffusion models.")
        assert len(abstract) <= 20_000
    store.close()


def test_single_profile_files_for_rank(tmp_path: Path) -> None:
    path = tmp_path / "me.toml"
    path.write_text(
        'name = "me"\nkeywords = ["graph"]\n[[seed_papers]]\ntitle = "T"\nabstract = "A"\n'
    )
    profile = load_profile_file(path)
    assert profile.seed_papers[0].title == "T"


def test_rank_json_output(tmp_path: Path) -> None:
    profile = tmp_path / "me.toml"
    profile.write_text(
        'name = "codes"\nkeywords = ["code"]\n[[seed_papers]]\n'
        'title = "Convertible codes"\nabstract = "MSR codes, conversion, optimal access and repair bandwidth"\n'
    )
    papers = FIXTURES / "batches" / "2026-07-01.jsonl"
    result = CliRunner().invoke(
        main, ["rank", "--papers", str(papers), "--profile", str(profile), "--top", "5", "--json"]
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert len(rows) == 5
    assert all(set(r) == {"id", "score", "why"} for r in rows)
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    assert any("Convertible codes" in r["why"] for r in rows)
    everything = CliRunner().invoke(
        main, ["rank", "--papers", str(papers), "--profile", str(profile), "--json"]
    )
    # the file lists some papers two or three times; each line is one input
    lines = [line for line in papers.read_text().splitlines() if line.strip()]
    assert len(lines) == 371
    assert len(everything.stdout.splitlines()) == len(lines)


def test_rank_reports_a_bad_profile_file(tmp_path: Path) -> None:
    profile = tmp_path / "me.toml"
    profile.write_text('name = "x"\nmax_papers = -1\n')
    result = CliRunner().invoke(
        main,
        [
            "rank",
            "--papers",
            str(FIXTURES / "batches" / "2026-07-01.jsonl"),
            "--profile",
            str(profile),
        ],
    )
    assert result.exit_code == 1 and f"{profile}: max_papers" in result.output


def test_store_round_trips_profiles(store: Store) -> None:
    sub = load_subscriber_file(EXAMPLE)
    row = store.add_subscriber(sub.email, now=NOW, status="active")
    store.save_profiles(row.id, sub.profiles, now=NOW)
    assert store.profiles(row.id) == sub.profiles
    assert store.record_feedback(row.id, "information theory", "2401.00001", "up", now=NOW)
    assert store.record_feedback(row.id, "information theory", "2401.00001", "down", now=NOW)
    after = store.profiles(row.id)[1]
    assert (after.liked, after.disliked) == ([], ["2401.00001"])


def test_a_unicode_domain_is_kept_in_its_ascii_form(tmp_path: Path) -> None:
    path = tmp_path / "ada.toml"
    path.write_text('email = "Ada@пример.com"\n[[profiles]]\nname = "x"\n', encoding="utf-8")
    assert load_subscriber_file(path).email == "ada@xn--e1afmkfd.com"


def test_control_characters_in_a_profile_file_never_reach_the_day(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    path = tmp_path / "ada.toml"
    path.write_text(
        'email = "ada@example.org"\nsend_hour = 6\n[[profiles]]\n'
        'name = "quantum\\r\\nX-Injected: 1\\u0000"\n'
        'keywords = ["quantum\\u0007", { phrase = "types\\u2028theory", weight = 2 }]\n'
        '[[profiles.seed_papers]]\ntitle = "Seed\\ntitle"\n'
        'abstract = "first line\\r\\nsecond\\tline\\u0000"\n'
    )
    (profile,) = load_subscriber_file(path).profiles
    assert profile.name == "quantum X-Injected: 1"
    assert [k.phrase for k in profile.keywords] == ["quantum", "types theory"]
    assert profile.seed_papers[0].title == "Seed title"
    assert profile.seed_papers[0].abstract == "first line\nsecond\tline"
    point_cli_at(settings, monkeypatch)
    settings.data_dir.mkdir()
    monkeypatch.setenv("DIGEST_SECRET_KEY", settings.secret_key.get_secret_value())  # type: ignore[union-attr]
    runner = CliRunner()
    assert runner.invoke(main, ["profile", "import", str(path)]).exit_code == 0
    store = open_store(settings)
    batch = FIXTURES / "batches" / "2026-06-29.jsonl"
    collect_sources(store, settings, [SourceSettings(name="b", location=str(batch))], now=NOW)
    report = run_day(store, settings, now=NOW, day=NOW.date(), collect_first=False, workers=1)
    store.close()
    assert (report.sent, report.failed) == (1, [])
    (sent,) = (settings.data_dir / "outbox" / "new").iterdir()
    message = email.message_from_bytes(sent.read_bytes(), policy=policy.default)
    assert "quantum X-Injected: 1" in str(message["Subject"])
    assert message["X-Injected"] is None
