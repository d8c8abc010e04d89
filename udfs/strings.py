# Text clean-up with the standard library (re, unicodedata, json), NULL-aware.
# tables: people=udfs/data/people.csv
# query: SELECT id, clean_name(name) AS name, initials(name) AS initials, slug(city) AS city_slug,
#   profile(id, name, city) AS profile FROM people ORDER BY id
import json
import re
import unicodedata

from udfbox import DataTypes, udf


@udf(result_type=DataTypes.STRING())
def clean_name(name):
    if name is None:
        return None
    return " ".join(part.capitalize() for part in re.split(r"\s+", name.strip()))


@udf(input_types=[DataTypes.STRING()], result_type=DataTypes.STRING())
def initials(name):
    if name is None:
        return None
    return "".join(word[0].upper() for word in name.split())


@udf(result_type=DataTypes.STRING())
def slug(text):
    if text is None:
        return None
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


@udf(result_type=DataTypes.STRING())
def profile(id, name, city):
    return json.dumps({"id": id, "name": name, "city": city}, sort_keys=True, ensure_ascii=False)
