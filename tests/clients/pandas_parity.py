"""Runs the same expressions through udfbox's pandas imitation (guest-runtime/udfbox/series.py)
and through real pandas, and compares: the imitation must give pandas' answer, or raise where
pandas raises. Run by tests/all/vectorized.rs with .venv's Python (scripts/bootstrap installs
pandas there). Exits non-zero, listing the differences, when they disagree."""

import datetime
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "guest-runtime"))

import pandas  # noqa: E402

from udfbox.series import DataFrame, Series  # noqa: E402

D = datetime.datetime
DATA = {
    "ints": [1, None, 3, 4, -2, 3],
    "floats": [1.5, None, 2.25, -0.5, 3.0, 2.25],
    "strs": ["ab cd", None, "efg h", "", "x y z", "ab"],
    "dates": [D(2024, 1, 15, 10, 30), None, D(2023, 12, 31, 23, 59, 59), D(2024, 2, 29),
              D(2020, 6, 1, 0, 0, 1), D(2024, 1, 15, 10, 30)],
    "full": [5, 2, 9, 2, 7, 1],
}

# (data, expression of `s` (and `t`, the same column of "full")); each line what UDFs write.
CASES = [
    # arithmetic, with a scalar and with another column; NULL stays NULL
    ("ints", "s + 1"), ("ints", "s - t"), ("ints", "s * 2.5"), ("ints", "s / 2"), ("ints", "2 / s"),
    ("ints", "s // 2"), ("ints", "s % 3"), ("ints", "s ** 2"), ("ints", "-s"), ("ints", "abs(s)"),
    ("ints", "s + t"), ("ints", "s / 0"), ("floats", "s * t"), ("floats", "s - 0.25"),
    ("full", "t.add(s)"), ("full", "s.sub(1)"), ("full", "s.mul(t)"), ("full", "s.div(2)"),
    # comparisons: NULL compares False (!= gives True)
    ("ints", "s > 2"), ("ints", "s >= 3"), ("ints", "s < 3"), ("ints", "s <= 1"), ("ints", "s == 3"),
    ("ints", "s != 3"), ("ints", "s > t"), ("floats", "s == 2.25"), ("strs", "s == 'ab'"),
    ("strs", "s > 'b'"), ("ints", "(s > 1) & (s < 4)"), ("ints", "(s < 0) | (s > 3)"),
    ("ints", "~(s > 1)"), ("ints", "s.gt(2)"), ("ints", "s.eq(3)"),
    # missing values
    ("ints", "s.isna()"), ("ints", "s.notna()"), ("ints", "s.isnull()"), ("ints", "s.notnull()"),
    ("ints", "s.fillna(0)"), ("ints", "s.fillna(0).astype('int64')"), ("strs", "s.fillna('?')"),
    ("ints", "s.dropna()"), ("ints", "s.ffill()"), ("ints", "s.bfill()"),
    # conversions
    ("ints", "s.astype('int64')"), ("full", "s.astype('float64')"), ("full", "s.astype(str)"),
    ("full", "s.astype(float)"), ("floats", "s.fillna(0).astype(int)"), ("full", "s.astype('int32')"),
    ("strs", "s.astype(str)"),
    # elementwise methods
    ("ints", "s.map(lambda v: v * 10, na_action='ignore')"), ("full", "s.map({5: 'five', 2: 'two'})"),
    ("full", "s.apply(lambda v: v * 2)"), ("ints", "s.where(s > 1)"), ("ints", "s.where(s > 1, 0)"),
    ("ints", "s.mask(s > 1, -1)"), ("ints", "s.clip(0, 3)"), ("ints", "s.clip(lower=2)"),
    ("ints", "s.isin([1, 3])"), ("ints", "s.between(1, 3)"), ("ints", "s.between(1, 3, inclusive='neither')"),
    ("floats", "s.round()"), ("floats", "s.round(1)"), ("ints", "s.abs()"), ("ints", "s.cumsum()"),
    ("full", "s.cumsum()"), ("full", "s.cumprod()"), ("full", "s.cummax()"), ("ints", "s.cummin()"),
    ("ints", "s.shift()"), ("ints", "s.shift(2)"), ("ints", "s.shift(-1)"), ("full", "s.shift(1, fill_value=0)"),
    ("ints", "s.diff()"), ("full", "s.replace(2, 20)"), ("full", "s.sort_values()"),
    ("full", "s.sort_values(ascending=False)"), ("ints", "s.sort_values()"), ("full", "s.head(2)"),
    ("full", "s.tail(2)"),
    # reductions: NULL skipped
    ("ints", "s.sum()"), ("ints", "s.mean()"), ("ints", "s.std()"), ("ints", "s.var()"),
    ("ints", "s.median()"), ("ints", "s.min()"), ("ints", "s.max()"), ("ints", "s.count()"),
    ("ints", "s.nunique()"), ("ints", "s.quantile(0.25)"), ("ints", "s.quantile(0.9)"),
    ("ints", "s.quantile([0.1, 0.5])"), ("floats", "s.sum()"), ("floats", "s.mean()"),
    ("floats", "s.median()"), ("floats", "s.std(ddof=0)"), ("full", "s.prod()"),
    ("full", "s.idxmax()"), ("full", "s.idxmin()"), ("strs", "s.dropna().min()"), ("strs", "s.dropna().max()"),
    ("strs", "s.count()"), ("strs", "s.nunique()"), ("ints", "(s > 2).any()"), ("ints", "(s > 2).all()"),
    ("ints", "(s > 2).sum()"),
    # positions and containers
    ("ints", "s.iloc[0]"), ("ints", "s.iloc[1:3]"), ("ints", "s.iloc[[0, 2]]"), ("ints", "s.iat[2]"),
    ("ints", "s[0]"), ("ints", "s[2:4]"), ("ints", "s[s > 1]"), ("ints", "len(s)"),
    ("ints", "list(s)"), ("ints", "s.tolist()"), ("ints", "s.to_list()"), ("ints", "s.size"),
    ("ints", "s.shape"), ("ints", "s.empty"), ("ints", "3 in s"), ("ints", "10 in s"),
    ("full", "[v * 2 for v in s]"), ("full", "s.unique()"),
    # strings: the str accessor, its indexing, missing values kept
    ("strs", "s.str.upper()"), ("strs", "s.str.lower()"), ("strs", "s.str.len()"),
    ("strs", "s.str.split(' ')"), ("strs", "s.str.split(' ').str[0]"), ("strs", "s.str.split(' ').str[-1]"),
    ("strs", "s.str.split(' ').str.get(1)"), ("strs", "s.str[:3]"), ("strs", "s.str[1]"),
    ("strs", "s.str.slice(1, 3)"), ("strs", "s.str.contains('b')"), ("strs", "s.str.contains('^a', regex=True)"),
    ("strs", "s.str.contains('B', case=False)"), ("strs", "s.str.startswith('ab')"),
    ("strs", "s.str.endswith('z')"), ("strs", "s.str.replace(' ', '_')"), ("strs", "s.str.strip()"),
    ("strs", "s.str.title()"), ("strs", "s.str.capitalize()"), ("strs", "s.str.find('c')"),
    ("strs", "s.str.count('b')"), ("strs", "s.str.zfill(6)"), ("strs", "s.str.pad(6)"),
    ("strs", "s.str.isalpha()"), ("strs", "s.str.split(' ').str.join('-')"), ("strs", "s.str.cat(sep=',')"),
    ("strs", "s.str.replace('[aeiou]', '*', regex=True)"), ("strs", "s.str.match('[a-e]')"),
    ("strs", "s.str.len() > 2"), ("strs", "s + '!'"), ("strs", "s.isin(['ab'])"),
    # dates and times: the dt accessor
    ("dates", "s.dt.year"), ("dates", "s.dt.month"), ("dates", "s.dt.day"), ("dates", "s.dt.hour"),
    ("dates", "s.dt.minute"), ("dates", "s.dt.second"), ("dates", "s.dt.dayofweek"),
    ("dates", "s.dt.dayofyear"), ("dates", "s.dt.quarter"), ("dates", "s.dt.date"),
    ("dates", "s.dt.strftime('%Y-%m')"), ("dates", "s.dt.is_month_start"), ("dates", "s.dt.days_in_month"),
    ("dates", "s.dt.day_name()"), ("dates", "s.min()"), ("dates", "s.max()"), ("dates", "s.isna()"),
    # what pandas refuses, the imitation refuses too
    ("ints", "bool(s)"), ("ints", "s.astype('int64') + 1"), ("ints", "s.iloc[10]"),
]

FRAME_CASES = [
    "df.a + df.b", "df['a'] * 2", "len(df)", "df.columns", "df.shape", "list(df)", "df[df.a > 1].b",
    "df[['b']].b", "df.apply(lambda r: r.iloc[0] + r.iloc[1], axis=1)", "df.sum()", "df.max()",
    "df.to_dict('list')", "df.to_dict('records')", "[tuple(r) for r in df.itertuples(index=False)]",
]


def normalize(value):
    """A plain Python value: pandas' NaN, NaT and None all become None, numpy scalars Python's,
    columns lists."""
    if isinstance(value, (pandas.Series, pandas.Index)) or type(value).__name__ == "ndarray":
        return [normalize(v) for v in list(value)]
    if isinstance(value, Series):
        return [normalize(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return type(value)(normalize(v) for v in value)
    if isinstance(value, dict):
        return {normalize(k): normalize(v) for k, v in value.items()}
    if value is None or value is pandas.NaT:
        return None
    if isinstance(value, pandas.Timestamp):
        return value.to_pydatetime()
    if hasattr(value, "item") and type(value).__module__ == "numpy":
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def same(mine, theirs):
    if isinstance(mine, (list, tuple)) and isinstance(theirs, (list, tuple)):
        return len(mine) == len(theirs) and all(same(a, b) for a, b in zip(mine, theirs))
    if isinstance(mine, dict) and isinstance(theirs, dict):
        return mine.keys() == theirs.keys() and all(same(mine[k], theirs[k]) for k in mine)
    if isinstance(mine, bool) or isinstance(theirs, bool):
        return type(mine) is type(theirs) and mine == theirs
    if isinstance(mine, (int, float)) and isinstance(theirs, (int, float)):
        return math.isclose(mine, theirs, rel_tol=1e-9, abs_tol=1e-12) or mine == theirs
    return mine == theirs


def outcome(expression, namespace):
    try:
        return "value", normalize(eval(expression, namespace))
    except Exception as exc:  # noqa: BLE001 (what matters is whether both raise)
        return "raises", type(exc).__name__


def main():
    failures = []
    for data, expression in CASES:
        values, full = DATA[data], DATA["full"]
        mine = outcome(expression, {"s": Series(values), "t": Series(full)})
        theirs = outcome(expression, {"s": pandas.Series(values), "t": pandas.Series(full)})
        if mine[0] != theirs[0] or (mine[0] == "value" and not same(mine[1], theirs[1])):
            failures.append("%s: %s\n  udfbox: %r\n  pandas: %r" % (data, expression, mine, theirs))
    frame = {"a": [1, 2, 3], "b": [4.0, 5.5, 6.0]}
    for expression in FRAME_CASES:
        mine = outcome(expression, {"df": DataFrame(frame)})
        theirs = outcome(expression, {"df": pandas.DataFrame(frame)})
        if mine[0] != theirs[0] or (mine[0] == "value" and not same(mine[1], theirs[1])):
            failures.append("frame: %s\n  udfbox: %r\n  pandas: %r" % (expression, mine, theirs))
    # Outside the covered surface: NotImplementedError naming the method, never a wrong answer.
    for expression, name in [("s.rolling(2)", "Series.rolling"), ("s.str.wrap(3)", "Series.str.wrap"),
                             ("s.dt.tz_localize('UTC')", "Series.dt.tz_localize"),
                             ("s.astype('category')", "Series.astype"), ("df.pivot('a')", "DataFrame.pivot")]:
        try:
            eval(expression, {"s": Series(DATA["strs"]), "df": DataFrame(frame)})
            failures.append("%s did not raise" % expression)
        except NotImplementedError as exc:
            if name not in str(exc):
                failures.append("%s raised without naming %s: %s" % (expression, name, exc))
    total = len(CASES) + len(FRAME_CASES)
    if failures:
        print("%d of %d cases differ from pandas %s:\n%s" % (len(failures), total, pandas.__version__,
                                                              "\n".join(failures)))
        sys.exit(1)
    print("%d cases agree with pandas %s" % (total, pandas.__version__))


if __name__ == "__main__":
    main()
