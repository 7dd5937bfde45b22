"""How fast `csmap import postcodes` loads an ONS Postcode Directory: a generated ONSPD-shaped CSV
(the directory's 52 columns, 1,000,000 rows by default, one in ten terminated) into a fresh
migrated database, first load and a re-import of the same file.

python -m benchmarks.postcode_import [ROWS]
"""

import csv
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from app.cli import alembic_config
from app.localdb import APP_ROLE, OWNER_ROLE, Cluster
from mapping.areas.models import Postcode
from mapping.areas.postcodes import import_postcodes

ROWS = 1_000_000
ONSPD_HEADER = [
    *("pcd", "pcd2", "pcds", "dointr", "doterm", "oscty", "ced", "oslaua", "osward", "parish", "usertype"),
    *("oseast1m", "osnrth1m", "osgrdind", "oshlthau", "nhser", "ctry", "rgn", "streg", "pcon", "eer"),
    *("teclec", "ttwa", "pct", "itl", "statsward", "oa01", "casward", "npark", "lsoa01", "msoa01"),
    *("ur01ind", "oac01", "oa11", "lsoa11", "msoa11", "wz11", "sicbl", "bua24", "ru11ind", "oac11"),
    *("lat", "long", "lep1", "lep2", "pfa", "imd", "calncv", "icb", "oa21", "lsoa21", "msoa21"),
]
LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
AREAS = "ABCDEFGHJKLMNOPRSTUWY"


def fictional_postcode(number: int) -> str:
    """A distinct, well-formed postcode for each number (areas and districts invented)."""
    area = AREAS[number % len(AREAS)] + AREAS[(number // len(AREAS)) % len(AREAS)]
    rest = number // (len(AREAS) ** 2)
    district, rest = rest % 99 + 1, rest // 99
    sector, rest = rest % 10, rest // 10
    inward = LETTERS[rest % len(LETTERS)] + LETTERS[(rest // len(LETTERS)) % len(LETTERS)]
    return f"{area}{district} {sector}{inward}"


def write_onspd(path: Path, rows: int, seed: int = 7) -> None:
    """An ONSPD-shaped CSV: every column present, positions in Great Britain, some terminated."""
    rng = random.Random(seed)
    columns = {name: index for index, name in enumerate(ONSPD_HEADER)}
    with path.open("w", newline="", encoding="utf-8") as sink:
        writer = csv.writer(sink)
        writer.writerow(ONSPD_HEADER)
        blank = [""] * len(ONSPD_HEADER)
        for number in range(rows):
            row = list(blank)
            postcode = fictional_postcode(number)
            row[columns["pcd"]] = row[columns["pcds"]] = postcode
            row[columns["dointr"]] = "198001"
            row[columns["doterm"]] = "201905" if number % 10 == 9 else ""
            row[columns["osward"]] = f"E05{number % 9000:06d}"
            row[columns["osgrdind"]] = "1"
            row[columns["ctry"]] = "E92000001"
            row[columns["lsoa11"]] = f"E01{number % 32844:06d}"
            row[columns["lsoa21"]] = f"E01{number % 33755:06d}"
            row[columns["lat"]] = f"{rng.uniform(50.5, 55.5):.6f}"
            row[columns["long"]] = f"{rng.uniform(-4.5, 1.5):.6f}"
            writer.writerow(row)


def timed_import(url: str, path: Path) -> tuple[float, int, int]:
    """Import the file once: (seconds, postcodes added, postcodes updated)."""
    engine = create_engine(url)
    started = time.perf_counter()
    with Session(engine) as session, session.begin(), path.open("rb") as stream:
        report = import_postcodes(session=session, files=[(path.name, stream)])
    seconds = time.perf_counter() - started
    engine.dispose()
    return seconds, report.created, report.updated


def main() -> None:
    """Generate the file, import it twice and print the rates."""
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else ROWS
    root = Path(tempfile.mkdtemp(prefix="csmap-bench-postcodes-"))
    files = Path(tempfile.mkdtemp(prefix="csmap-bench-onspd-"))
    cluster = Cluster(root, 54393)
    try:
        cluster.ensure_started()
        cluster.ensure_database("bench")
        config = alembic_config(cluster.url(OWNER_ROLE, "bench"))
        config.attributes["skip_logging_config"] = True
        config.attributes["app_role"] = APP_ROLE
        command.upgrade(config, "head")
        path = files / "ONSPD_bench.csv"
        started = time.perf_counter()
        write_onspd(path, rows)
        print(
            f"Generated {rows:,} ONSPD-shaped rows ({path.stat().st_size / 1e6:.0f} MB) in "
            f"{time.perf_counter() - started:.1f} s"
        )
        url = cluster.url(OWNER_ROLE, "bench")
        for label in ("first import", "re-import"):
            seconds, created, updated = timed_import(url, path)
            rate = rows / seconds
            print(f"{label}: {seconds:.1f} s, {rate:,.0f} rows/s ({created:,} added, {updated:,} updated)")
        engine = create_engine(url)
        with Session(engine) as session:
            held = session.scalar(select(func.count()).select_from(Postcode))
        engine.dispose()
        print(f"postcodes held: {held:,}")
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(files, ignore_errors=True)


if __name__ == "__main__":
    main()
