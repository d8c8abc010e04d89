//! The pure-Python standard library imports inside the sandbox, at module level and inside
//! functions, as it does natively.

use crate::harness::check;

#[tokio::test]
async fn standard_library_imports_inside_functions() {
    let source = r##"
import json
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.STRING())
def stdlib_tour(n):
    import base64, bisect, calendar, collections, csv, dataclasses, datetime, decimal, difflib
    import email.utils, fractions, hashlib, heapq, html, io, itertools, math, re, statistics
    import string, textwrap, unicodedata, urllib.parse, uuid, zlib, zoneinfo, ipaddress, shlex
    import xml.etree.ElementTree as ET
    from dataclasses import dataclass

    @dataclass
    class Point:
        x: int
        y: int

    parts = [
        base64.b64encode(b"udf").decode(),
        str(bisect.bisect([1, 5, 9], n)),
        calendar.month_abbr[n],
        str(collections.Counter("hello")["l"]),
        next(csv.reader(io.StringIO('a,"b,c"')))[1],
        str(decimal.Decimal("1.10") + decimal.Decimal(n)),
        str(fractions.Fraction(n, 4)),
        hashlib.sha256(b"abc").hexdigest()[:8],
        html.escape("<b>"),
        str(math.isqrt(99)),
        re.sub(r"\d", "#", "a1b22"),
        str(statistics.median([n, 10, 20])),
        textwrap.shorten("hello wonderful world", 12),
        unicodedata.name("é"),
        urllib.parse.quote("a b&c"),
        str(uuid.UUID(int=n)),
        str(zlib.crc32(b"abc")),
        email.utils.parseaddr("Ann <ann@example.com>")[1],
        str(Point(n, 2)),
        str(ipaddress.ip_address("10.0.0.1") + n),
        shlex.split("a 'b c'")[1],
        ET.fromstring("<a><b>x</b></a>").find("b").text,
        json.dumps(sorted(difflib.get_close_matches("appel", ["ape", "apple", "peach"]))),
        datetime.date(2024, 1, n).isoformat(),
    ]
    return "|".join(parts)
"##;
    check(
        source,
        None,
        "SELECT stdlib_tour(3) AS r",
        "r
         \"dWRm|1|Mar|2|b,c|4.10|3/4|ba7816bf|&lt;b&gt;|9|a#b##|10|hello [...]|LATIN SMALL LETTER E WITH ACUTE|a%20b%26c|00000000-0000-0000-0000-000000000003|891568578|ann@example.com|stdlib_tour.<locals>.Point(x=3, y=2)|10.0.0.4|b c|x|[\"\"ape\"\", \"\"apple\"\"]|2024-01-03\"",
    )
    .await;
}
