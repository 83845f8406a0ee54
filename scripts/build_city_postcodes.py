"""Builds src/clientbook/customers/data/city_postcodes.csv from JioNLP's
phone_location.txt (Apache-2.0, dongrixinyu/JioNLP @ 783abc52, stored in
../shared/datasets/chinese_candidates/jionlp_phone_location.zip).

Each city heading line of that file reads "<province> <city>\t<area code>\t<postcode>".
Usage: python scripts/build_city_postcodes.py [path/to/jionlp_phone_location.zip]
"""

import csv
import io
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT.parent / "shared/datasets/chinese_candidates/jionlp_phone_location.zip"
OUT = ROOT / "src/clientbook/customers/data/city_postcodes.csv"


def main() -> None:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    with zipfile.ZipFile(source) as archive:
        text = archive.read("phone_location.txt").decode("utf-8")
    rows = set()
    for line in io.StringIO(text):
        parts = [p.strip() for p in line.split("\t")]
        if len(parts) == 3 and parts[0] and " " in parts[0]:
            province, city = parts[0].split(" ", 1)
            rows.add((province, city, parts[1], parts[2]))
    with OUT.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["province", "city", "area_code", "postcode"])
        writer.writerows(sorted(rows))
    print(f"{len(rows)} cities written to {OUT}")


if __name__ == "__main__":
    main()
