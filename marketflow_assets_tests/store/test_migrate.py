from pathlib import Path

import duckdb
import pytest

from marketflow_assets.store import migrate
from marketflow_assets.store.connection import open_store


def test_migrations_apply_once_and_are_recorded(tmp_path: Path) -> None:
    conn = duckdb.connect(str(tmp_path / "s.duckdb"))
    applied = migrate.apply_migrations(conn)
    assert applied == [m.name for m in migrate.available_migrations()]
    assert applied[0] == "0001_bars.sql"
    assert migrate.apply_migrations(conn) == []
    recorded = conn.execute("SELECT version, name FROM schema_migrations").fetchall()
    assert recorded == [(m.version, m.name) for m in migrate.available_migrations()]
    tables = {
        r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }
    assert {"bars", "corporate_actions", "quarantine"} <= tables


def test_an_edited_migration_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = duckdb.connect(str(tmp_path / "s.duckdb"))
    migrate.apply_migrations(conn)
    original = migrate.available_migrations()
    edited = [migrate.Migration(m.version, m.name, m.sql + "\n-- edit") for m in original]
    monkeypatch.setattr(migrate, "available_migrations", lambda: edited)
    with pytest.raises(migrate.MigrationError, match=r"0001_bars\.sql was changed"):
        migrate.apply_migrations(conn)


def test_read_only_store_must_exist(tmp_path: Path) -> None:
    with (
        pytest.raises(FileNotFoundError, match="no store yet"),
        open_store(tmp_path / "none.duckdb", read_only=True),
    ):
        pass


def test_a_file_that_is_not_a_store_says_so(tmp_path: Path) -> None:
    path = tmp_path / "notes.duckdb"
    path.write_text("not a database")
    with pytest.raises(duckdb.IOException, match="not a valid DuckDB database"), open_store(path):
        pass
