//! udfbox type strings (`BIGINT`, `DECIMAL(10, 2)`, `ARRAY<STRING>`, `ROW<`a` INT>` ...) and the
//! Arrow types they stand for. The Python side (`guest-runtime/udfbox/types.py`) prints the same
//! canonical strings.

use std::collections::HashMap;
use std::ops::{Range, RangeInclusive};
use std::sync::Arc;

use arrow::array::{Array, ArrayData, AsArray, StringArray};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, DecimalType, Field, Fields, IntervalUnit, Time64MicrosecondType, TimeUnit,
    TimestampMicrosecondType,
};
use arrow::error::ArrowError;

use crate::error::{Error, Result};

/// Types nest at most this deep (a type string comes from untrusted code).
pub const MAX_TYPE_DEPTH: usize = 32;
/// Type strings are at most this long.
pub const MAX_TYPE_CHARS: usize = 4096;

/// The Field metadata key naming a udfbox type that Arrow has no type for: `JSON` and `NUMERIC`
/// travel as Utf8 columns whose field carries `udfbox.type` = the type's name.
pub const LOGICAL_TYPE_KEY: &str = "udfbox.type";

/// The Arrow field of a udfbox type string: named "", nullable unless the type says `NOT NULL`,
/// with the [`LOGICAL_TYPE_KEY`] metadata of `JSON` and `NUMERIC`; nested fields likewise.
pub fn arrow_field(text: &str) -> Result<Field> {
    if text.len() > MAX_TYPE_CHARS {
        return Err(Error::Invalid(format!("a type string is limited to {MAX_TYPE_CHARS} characters")));
    }
    let mut parser = Parser { text, pos: 0, depth: 0 };
    let field = parser.parse("")?;
    parser.skip_ws();
    if parser.pos != text.len() {
        return Err(parser.error("unexpected text"));
    }
    Ok(field)
}

/// The Arrow type of a udfbox type string (the data type of its [`arrow_field`]).
pub fn arrow_type(text: &str) -> Result<DataType> {
    Ok(arrow_field(text)?.data_type().clone())
}

/// `ty` with every nested field nullable (map keys stay non-null, as Arrow requires). Arguments
/// are cast to this, since Arrow and DataFusion cast into non-nullable fields only from
/// non-nullable ones, and then checked against `ty` with [`restrict`].
pub fn nullable_type(ty: &DataType) -> DataType {
    let relax = |f: &Field| f.clone().with_data_type(nullable_type(f.data_type())).with_nullable(true);
    match ty {
        DataType::List(item) => DataType::List(Arc::new(relax(item))),
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(|f| relax(f)).collect()),
        DataType::Map(entries, sorted) => {
            let DataType::Struct(pair) = entries.data_type() else { return ty.clone() };
            let pair: Fields = pair.iter().enumerate().map(|(i, f)| relax(f).with_nullable(i != 0)).collect();
            DataType::Map(Arc::new(entries.as_ref().clone().with_data_type(DataType::Struct(pair))), *sorted)
        }
        _ => ty.clone(),
    }
}

/// `data` (of [`nullable_type`]`(ty)`) as type `ty`, validated by Arrow: a NULL where `ty` allows
/// none is an error.
pub fn restrict(data: ArrayData, ty: &DataType) -> std::result::Result<ArrayData, ArrowError> {
    let child_types: Vec<&DataType> = match ty {
        DataType::List(item) | DataType::Map(item, _) => vec![item.data_type()],
        DataType::Struct(fields) => fields.iter().map(|f| f.data_type()).collect(),
        _ => return Ok(data),
    };
    let children = data
        .child_data()
        .iter()
        .zip(child_types)
        .map(|(child, child_type)| restrict(child.clone(), child_type))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    data.into_builder().data_type(ty.clone()).child_data(children).build()
}

/// The DATE values udfbox accepts from a UDF, in days since 1970-01-01: years 1 to 9999, what
/// Python's `datetime.date` can hold (so nothing else can have come from a UDF).
pub const DATE_DAYS: RangeInclusive<i32> = -719_162..=2_932_896;
/// The TIME values udfbox accepts, in microseconds since midnight: within one day.
pub const TIME_MICROS: Range<i64> = 0..86_400_000_000;
/// The TIMESTAMP values udfbox accepts, in microseconds since 1970-01-01T00:00: years 1 to 9999.
pub const TIMESTAMP_MICROS: RangeInclusive<i64> = -62_135_596_800_000_000..=253_402_300_799_999_999;

/// Checks what Arrow's own validation cannot (at any depth): that every value of a `JSON` or
/// `NUMERIC` field is what its [`LOGICAL_TYPE_KEY`] says, JSON text or a decimal number; that
/// every DECIMAL fits its precision; and that DATE, TIME and TIMESTAMP values are in
/// [`DATE_DAYS`], [`TIME_MICROS`] and [`TIMESTAMP_MICROS`]. The error names the row of `array`
/// and, for a ROW, the column.
pub fn check_values(field: &Field, array: &dyn Array) -> std::result::Result<(), String> {
    check_field(field, array, Some(""))
}

/// `at`: the column's name (with its separator) when rows of `array` are rows of the result.
fn check_field(field: &Field, array: &dyn Array, at: Option<&str>) -> std::result::Result<(), String> {
    let place = |row: usize| at.map(|column| format!("{column}row {row}: ")).unwrap_or_default();
    if let Some(logical) = field.metadata().get(LOGICAL_TYPE_KEY) {
        let Some(text) = array.as_any().downcast_ref::<StringArray>() else {
            return Err(format!("a {logical} column is {}, not Utf8", array.data_type()));
        };
        let valid: fn(&str) -> bool = match logical.as_str() {
            "JSON" => |v| serde_json::from_str::<serde_json::Value>(v).is_ok(),
            "NUMERIC" => is_decimal_text,
            other => return Err(format!("unknown logical type {other}")),
        };
        for (row, value) in text.iter().enumerate() {
            if let Some(value) = value.filter(|v| !valid(v)) {
                let shown: String = value.chars().take(40).collect();
                return Err(format!("{}'{shown}' is not a {logical} value", place(row)));
            }
        }
        return Ok(());
    }
    let outside = |row: usize, what: String| Err(format!("{}{what}", place(row)));
    match array.data_type() {
        DataType::Decimal128(precision, scale) => {
            let decimals = array.as_primitive::<Decimal128Type>();
            for (row, value) in decimals.iter().enumerate() {
                if value.is_some_and(|v| !Decimal128Type::is_valid_decimal_precision(v, *precision)) {
                    let shown = decimal_text(decimals.value(row), *scale);
                    return outside(row, format!("{shown} does not fit DECIMAL({precision}, {scale})"));
                }
            }
            Ok(())
        }
        DataType::Date32 => {
            for (row, days) in array.as_primitive::<Date32Type>().iter().enumerate() {
                if let Some(days) = days.filter(|d| !DATE_DAYS.contains(d)) {
                    return outside(row, format!("DATE of {days} days since 1970-01-01 is outside years 1 to 9999"));
                }
            }
            Ok(())
        }
        DataType::Time64(TimeUnit::Microsecond) => {
            for (row, micros) in array.as_primitive::<Time64MicrosecondType>().iter().enumerate() {
                if let Some(micros) = micros.filter(|m| !TIME_MICROS.contains(m)) {
                    return outside(row, format!("TIME of {micros} microseconds is not within a day"));
                }
            }
            Ok(())
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            for (row, micros) in array.as_primitive::<TimestampMicrosecondType>().iter().enumerate() {
                if let Some(micros) = micros.filter(|m| !TIMESTAMP_MICROS.contains(m)) {
                    return outside(
                        row,
                        format!("TIMESTAMP of {micros} microseconds since 1970-01-01 is outside years 1 to 9999"),
                    );
                }
            }
            Ok(())
        }
        DataType::List(child) => check_field(child, array.as_list::<i32>().values().as_ref(), None),
        DataType::Map(entries, _) => check_field(entries, array.as_map().entries(), None),
        DataType::Struct(fields) => {
            let children = array.as_struct().columns();
            fields.iter().zip(children).try_for_each(|(f, c)| {
                let column = at.map(|_| format!("column {}, ", quote(f.name())));
                check_field(f, c.as_ref(), column.as_deref())
            })
        }
        _ => Ok(()),
    }
}

/// An unscaled decimal as text with `scale` fraction digits, whatever its magnitude (Arrow's own
/// formatting cuts a value to its type's precision).
fn decimal_text(value: i128, scale: i8) -> String {
    let scale = usize::try_from(scale).unwrap_or(0);
    let digits = format!("{:0>width$}", value.unsigned_abs(), width = scale + 1);
    let (whole, fraction) = digits.split_at(digits.len() - scale);
    let sign = if value < 0 { "-" } else { "" };
    if scale == 0 {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{fraction}")
    }
}

/// Decimal text as the runtime writes it (`format(value, "f")`): digits with an optional sign
/// and fraction, or `NaN` / `Infinity`, which RisingWave's decimals have.
fn is_decimal_text(text: &str) -> bool {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    if matches!(unsigned, "NaN" | "Infinity") {
        return true;
    }
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    !(whole.is_empty() && fraction.is_empty()) && digits(whole) && digits(fraction)
}

/// The list element field udfbox uses for the types Arrow inputs are passed as.
fn item(ty: DataType) -> Arc<Field> {
    Arc::new(Field::new("item", ty, true))
}

fn map_type(key: Field, value: Field) -> DataType {
    // Arrow map keys are never null, whatever the type string says.
    let key = key.with_name("key").with_nullable(false);
    let entries = Fields::from(vec![key, value.with_name("value")]);
    DataType::Map(Arc::new(Field::new("entries", DataType::Struct(entries), false)), false)
}

/// The udfbox type an Arrow column is passed to Python as, and the Arrow type it must be cast to
/// first. `None` when udfbox cannot pass such a column to Python.
pub fn udf_type_of(ty: &DataType) -> Option<(String, DataType)> {
    Some(match ty {
        DataType::Boolean => ("BOOLEAN".into(), DataType::Boolean),
        DataType::Int8 => ("TINYINT".into(), DataType::Int8),
        DataType::Int16 => ("SMALLINT".into(), DataType::Int16),
        DataType::Int32 => ("INT".into(), DataType::Int32),
        DataType::Int64 => ("BIGINT".into(), DataType::Int64),
        DataType::UInt8 => ("UTINYINT".into(), DataType::UInt8),
        DataType::UInt16 => ("USMALLINT".into(), DataType::UInt16),
        DataType::UInt32 => ("UINT".into(), DataType::UInt32),
        DataType::UInt64 => ("UBIGINT".into(), DataType::UInt64),
        DataType::Interval(_) => ("INTERVAL".into(), DataType::Interval(IntervalUnit::MonthDayNano)),
        DataType::Float16 | DataType::Float32 => ("FLOAT".into(), DataType::Float32),
        DataType::Float64 => ("DOUBLE".into(), DataType::Float64),
        DataType::Decimal32(p, s) | DataType::Decimal64(p, s) | DataType::Decimal128(p, s)
            if *s >= 0 && s.unsigned_abs() <= *p && *p <= 38 =>
        {
            (format!("DECIMAL({p}, {s})"), DataType::Decimal128(*p, *s))
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => ("STRING".into(), DataType::Utf8),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => {
            ("BYTES".into(), DataType::Binary)
        }
        DataType::Date32 | DataType::Date64 => ("DATE".into(), DataType::Date32),
        DataType::Time32(_) | DataType::Time64(_) => ("TIME".into(), DataType::Time64(TimeUnit::Microsecond)),
        DataType::Timestamp(_, _) => ("TIMESTAMP".into(), DataType::Timestamp(TimeUnit::Microsecond, None)),
        DataType::List(f) | DataType::LargeList(f) | DataType::ListView(f) | DataType::FixedSizeList(f, _) => {
            let (name, ty) = udf_type_of(f.data_type())?;
            (format!("ARRAY<{name}>"), DataType::List(item(ty)))
        }
        DataType::Map(entries, _) => {
            let DataType::Struct(fields) = entries.data_type() else { return None };
            if fields.len() != 2 {
                return None;
            }
            let (key, key_ty) = udf_type_of(fields[0].data_type())?;
            let (value, value_ty) = udf_type_of(fields[1].data_type())?;
            (format!("MAP<{key}, {value}>"), map_type(Field::new("", key_ty, false), Field::new("", value_ty, true)))
        }
        DataType::Struct(fields) if !fields.is_empty() => {
            let mut names = Vec::with_capacity(fields.len());
            let mut arrow_fields = Vec::with_capacity(fields.len());
            for f in fields {
                let (name, ty) = udf_type_of(f.data_type())?;
                names.push(format!("{} {name}", quote(f.name())));
                arrow_fields.push(Field::new(f.name(), ty, true));
            }
            (format!("ROW<{}>", names.join(", ")), DataType::Struct(Fields::from(arrow_fields)))
        }
        DataType::Dictionary(_, value) => udf_type_of(value)?,
        _ => return None,
    })
}

fn quote(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn error(&self, what: &str) -> Error {
        Error::Invalid(format!("invalid type '{}': {what} at position {}", self.text, self.pos))
    }

    fn skip_ws(&mut self) {
        while self.text[self.pos..].starts_with(char::is_whitespace) {
            self.pos += self.text[self.pos..].chars().next().map_or(1, char::len_utf8);
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_ws();
        self.text[self.pos..].chars().next()
    }

    fn expect(&mut self, ch: char) -> Result<()> {
        if self.peek() != Some(ch) {
            return Err(self.error(&format!("expected '{ch}'")));
        }
        self.pos += ch.len_utf8();
        Ok(())
    }

    fn word(&mut self) -> Result<&str> {
        self.skip_ws();
        let start = self.pos;
        let rest = &self.text[start..];
        let len = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
        if len == 0 {
            return Err(self.error("expected a name"));
        }
        self.pos += len;
        Ok(&self.text[start..start + len])
    }

    fn name(&mut self) -> Result<String> {
        if self.peek() != Some('`') {
            return Ok(self.word()?.to_string());
        }
        self.pos += 1;
        let mut name = String::new();
        loop {
            let Some(ch) = self.text[self.pos..].chars().next() else {
                return Err(self.error("unterminated `name`"));
            };
            self.pos += ch.len_utf8();
            if ch == '`' {
                if self.text[self.pos..].starts_with('`') {
                    self.pos += 1;
                    name.push('`');
                    continue;
                }
                return Ok(name);
            }
            name.push(ch);
        }
    }

    fn number(&mut self) -> Result<u32> {
        self.skip_ws();
        let rest = &self.text[self.pos..];
        let len = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let value = rest[..len].parse().map_err(|_| self.error("expected a number"))?;
        self.pos += len;
        Ok(value)
    }

    fn args(&mut self) -> Result<Vec<u32>> {
        let mut args = Vec::new();
        if self.peek() == Some('(') {
            self.pos += 1;
            args.push(self.number()?);
            while self.peek() == Some(',') {
                self.pos += 1;
                args.push(self.number()?);
            }
            self.expect(')')?;
        }
        Ok(args)
    }

    /// The next type, as a field named `name`.
    fn parse(&mut self, name: &str) -> Result<Field> {
        self.depth += 1;
        if self.depth > MAX_TYPE_DEPTH {
            return Err(self.error(&format!("types nest at most {MAX_TYPE_DEPTH} deep")));
        }
        let field = self.parse_one(name);
        self.depth -= 1;
        field
    }

    fn parse_one(&mut self, name: &str) -> Result<Field> {
        let word = self.word()?.to_ascii_uppercase();
        let mut logical = None;
        let ty = match word.as_str() {
            "BOOLEAN" | "BOOL" => DataType::Boolean,
            "TINYINT" => DataType::Int8,
            "SMALLINT" => DataType::Int16,
            "INT" | "INTEGER" => DataType::Int32,
            "BIGINT" => DataType::Int64,
            "UTINYINT" => DataType::UInt8,
            "USMALLINT" => DataType::UInt16,
            "UINT" => DataType::UInt32,
            "UBIGINT" => DataType::UInt64,
            "FLOAT" | "REAL" => DataType::Float32,
            "DOUBLE" => DataType::Float64,
            "STRING" | "VARCHAR" | "CHAR" => DataType::Utf8,
            "BYTES" | "VARBINARY" | "BINARY" => DataType::Binary,
            "LARGE_STRING" => DataType::LargeUtf8,
            "LARGE_BYTES" => DataType::LargeBinary,
            "DATE" => DataType::Date32,
            "TIME" => DataType::Time64(TimeUnit::Microsecond),
            "TIMESTAMP" => DataType::Timestamp(TimeUnit::Microsecond, None),
            "INTERVAL" => DataType::Interval(IntervalUnit::MonthDayNano),
            "JSON" => {
                logical = Some("JSON");
                DataType::Utf8
            }
            // Bare NUMERIC is arbitrary precision (decimal text); with arguments, a DECIMAL.
            "NUMERIC" if self.peek() != Some('(') => {
                logical = Some("NUMERIC");
                DataType::Utf8
            }
            "DECIMAL" | "NUMERIC" | "DEC" => {
                let args = self.args()?;
                let (p, s) = match args.as_slice() {
                    [] => (10, 0),
                    [p] => (*p, 0),
                    [p, s] => (*p, *s),
                    _ => return Err(self.error("DECIMAL takes (precision, scale)")),
                };
                if !(1..=38).contains(&p) || s > p {
                    return Err(self.error("DECIMAL precision must be 1..=38 and scale 0..=precision"));
                }
                return self.finish(name, DataType::Decimal128(p as u8, s as i8), None);
            }
            "ARRAY" => {
                self.expect('<')?;
                let element = self.parse("item")?;
                self.expect('>')?;
                return self.finish(name, DataType::List(Arc::new(element)), None);
            }
            "MAP" => {
                self.expect('<')?;
                let key = self.parse("key")?;
                self.expect(',')?;
                let value = self.parse("value")?;
                self.expect('>')?;
                return self.finish(name, map_type(key, value), None);
            }
            "ROW" => {
                self.expect('<')?;
                let mut fields = Vec::new();
                loop {
                    let field_name = self.name()?;
                    fields.push(self.parse(&field_name)?);
                    if self.peek() != Some(',') {
                        break;
                    }
                    self.pos += 1;
                }
                self.expect('>')?;
                return self.finish(name, DataType::Struct(Fields::from(fields)), None);
            }
            _ => return Err(self.error(&format!("unknown type {word}"))),
        };
        if self.args()?.len() > 1 {
            return Err(self.error(&format!("{word} takes at most one argument")));
        }
        self.finish(name, ty, logical)
    }

    /// The field of a parsed type: an optional `NOT NULL` follows, and a logical type becomes
    /// metadata.
    fn finish(&mut self, name: &str, ty: DataType, logical: Option<&str>) -> Result<Field> {
        let field = Field::new(name, ty, !self.not_null());
        Ok(match logical {
            Some(logical) => field.with_metadata(HashMap::from([(LOGICAL_TYPE_KEY.to_string(), logical.to_string())])),
            None => field,
        })
    }

    /// Consumes a `NOT NULL` (any white space between the words) if one comes next.
    fn not_null(&mut self) -> bool {
        let save = self.pos;
        self.skip_ws();
        let rest = &self.text[self.pos..];
        if rest.get(..3).is_some_and(|w| w.eq_ignore_ascii_case("NOT")) {
            let tail = rest[3..].trim_start();
            if tail.len() < rest.len() - 3 && tail.get(..4).is_some_and(|w| w.eq_ignore_ascii_case("NULL")) {
                self.pos = self.text.len() - tail.len() + 4;
                return true;
            }
        }
        self.pos = save;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_arrow() {
        for text in [
            "BOOLEAN",
            "TINYINT",
            "SMALLINT",
            "INT",
            "BIGINT",
            "FLOAT",
            "DOUBLE",
            "DECIMAL(10, 2)",
            "STRING",
            "BYTES",
            "DATE",
            "TIME",
            "TIMESTAMP",
            "ARRAY<BIGINT>",
            "MAP<STRING, DOUBLE>",
            "ROW<`a` INT, `b c` ARRAY<STRING>>",
            "UTINYINT",
            "USMALLINT",
            "UINT",
            "UBIGINT",
            "INTERVAL",
        ] {
            let ty = arrow_type(text).unwrap();
            let (back, cast_to) = udf_type_of(&ty).unwrap();
            assert_eq!(back, text);
            assert_eq!(cast_to, ty);
        }
    }

    #[test]
    fn accepts_pyflink_spellings() {
        assert_eq!(arrow_type("varchar(20) not null").unwrap(), DataType::Utf8);
        assert_eq!(arrow_type("ROW<a INT>").unwrap(), arrow_type("ROW<`a` INT>").unwrap());
        assert!(arrow_type("DECIMAL(40, 2)").is_err());
        assert!(arrow_type("ARRAY<NOPE>").is_err());
        assert!(arrow_type("INT garbage").is_err());
        let deep = format!("{}BIGINT{}", "ARRAY<".repeat(100_000), ">".repeat(100_000));
        assert!(arrow_type(&deep).is_err());
        let ok = format!("{}BIGINT{}", "ARRAY<".repeat(MAX_TYPE_DEPTH - 1), ">".repeat(MAX_TYPE_DEPTH - 1));
        assert!(arrow_type(&ok).is_ok());
    }

    #[test]
    fn fields_carry_nullability_and_logical_types() {
        let field = arrow_field("BIGINT").unwrap();
        assert_eq!((field.name().as_str(), field.is_nullable()), ("", true));
        assert!(!arrow_field("bigint  not\tnull").unwrap().is_nullable());
        assert!(arrow_field("INT NOTNULL").is_err());

        let json = arrow_field("JSON NOT NULL").unwrap();
        assert_eq!(json.data_type(), &DataType::Utf8);
        assert!(!json.is_nullable());
        assert_eq!(json.metadata().get(LOGICAL_TYPE_KEY).map(String::as_str), Some("JSON"));
        assert_eq!(
            arrow_field("NUMERIC").unwrap().metadata().get(LOGICAL_TYPE_KEY).map(String::as_str),
            Some("NUMERIC")
        );
        assert_eq!(arrow_type("NUMERIC(12, 2)").unwrap(), DataType::Decimal128(12, 2));

        let DataType::List(element) = arrow_type("ARRAY<JSON NOT NULL>").unwrap() else { panic!("not a list") };
        assert_eq!((element.name().as_str(), element.is_nullable()), ("item", false));
        assert_eq!(element.metadata().get(LOGICAL_TYPE_KEY).map(String::as_str), Some("JSON"));

        let DataType::Map(entries, _) = arrow_type("MAP<STRING NOT NULL, INT NOT NULL>").unwrap() else {
            panic!("not a map")
        };
        let DataType::Struct(kv) = entries.data_type() else { panic!("not entries") };
        assert_eq!((kv[0].name().as_str(), kv[0].is_nullable()), ("key", false));
        assert_eq!((kv[1].name().as_str(), kv[1].is_nullable()), ("value", false));
        // Arrow map keys are never null, whether or not the type says so.
        let plain = arrow_type("MAP<STRING, INT>").unwrap();
        assert_eq!(plain, map_type(Field::new("", DataType::Utf8, false), Field::new("", DataType::Int32, true)));

        let DataType::Struct(fields) = arrow_type("ROW<`a` INT NOT NULL, b STRING>").unwrap() else {
            panic!("not a struct")
        };
        assert_eq!((fields[0].name().as_str(), fields[0].is_nullable()), ("a", false));
        assert_eq!((fields[1].name().as_str(), fields[1].is_nullable()), ("b", true));

        for (text, ty) in [
            ("UTINYINT", DataType::UInt8),
            ("USMALLINT", DataType::UInt16),
            ("UINT", DataType::UInt32),
            ("UBIGINT", DataType::UInt64),
            ("LARGE_STRING", DataType::LargeUtf8),
            ("LARGE_BYTES", DataType::LargeBinary),
            ("INTERVAL", DataType::Interval(IntervalUnit::MonthDayNano)),
        ] {
            assert_eq!(arrow_type(text).unwrap(), ty, "{text}");
        }
        // Multi-byte text where a keyword could start is an error, not a panic on a char boundary.
        for text in
            ["INT \u{e9}\u{e9}\u{e9}\u{e9}\u{e9}", "INT N\u{e9}\u{e9}\u{e9}\u{e9}", "INT NOT \u{e9}\u{e9}\u{e9}"]
        {
            assert!(arrow_field(text).is_err(), "{text}");
        }
    }

    #[test]
    fn keywords_next_to_multi_byte_text_are_errors() {
        for text in
            ["BIGINT aa\u{e9} NOT NULL", "INT NOTxxx\u{e9}", "INT NOT\u{e9}", "INT \u{e9}NOT NULL", "DATE N\u{10ffff}"]
        {
            let error = arrow_field(text).unwrap_err().to_string();
            assert!(error.starts_with(&format!("invalid type '{text}'")), "{error}");
        }
    }

    #[test]
    fn checks_value_ranges() {
        use arrow::array::{
            ArrayRef, Date32Array, Decimal128Array, ListArray, StructArray, Time64MicrosecondArray,
            TimestampMicrosecondArray,
        };

        let decimal = |values: Vec<Option<i128>>| Decimal128Array::from(values).with_precision_and_scale(5, 2).unwrap();
        let field = arrow_field("DECIMAL(5, 2)").unwrap();
        assert!(check_values(&field, &decimal(vec![Some(99_999), Some(-99_999), None])).is_ok());
        assert_eq!(
            check_values(&field, &decimal(vec![Some(1), Some(10i128.pow(37))])).unwrap_err(),
            "row 1: 100000000000000000000000000000000000.00 does not fit DECIMAL(5, 2)"
        );
        assert_eq!(
            check_values(&field, &decimal(vec![Some(-100_000)])).unwrap_err(),
            "row 0: -1000.00 does not fit DECIMAL(5, 2)"
        );

        let dates = Date32Array::from(vec![Some(*DATE_DAYS.start()), Some(*DATE_DAYS.end()), None]);
        assert!(check_values(&arrow_field("DATE").unwrap(), &dates).is_ok());
        for days in [i32::MAX, i32::MIN, DATE_DAYS.end() + 1, DATE_DAYS.start() - 1] {
            let error = check_values(&arrow_field("DATE").unwrap(), &Date32Array::from(vec![days])).unwrap_err();
            assert_eq!(error, format!("row 0: DATE of {days} days since 1970-01-01 is outside years 1 to 9999"));
        }
        let times = Time64MicrosecondArray::from(vec![0, TIME_MICROS.end - 1]);
        assert!(check_values(&arrow_field("TIME").unwrap(), &times).is_ok());
        for micros in [-5, TIME_MICROS.end, i64::MAX] {
            let column = Time64MicrosecondArray::from(vec![micros]);
            assert!(check_values(&arrow_field("TIME").unwrap(), &column).is_err(), "{micros}");
        }
        let stamps = TimestampMicrosecondArray::from(vec![*TIMESTAMP_MICROS.start(), *TIMESTAMP_MICROS.end()]);
        assert!(check_values(&arrow_field("TIMESTAMP").unwrap(), &stamps).is_ok());
        for micros in [i64::MIN, i64::MAX, TIMESTAMP_MICROS.end() + 1] {
            let column = TimestampMicrosecondArray::from(vec![micros]);
            assert!(check_values(&arrow_field("TIMESTAMP").unwrap(), &column).is_err(), "{micros}");
        }
        // The bounds are what Arrow can render: the first and last value print as dates.
        let shown = arrow::util::display::array_value_to_string(&stamps, 1).unwrap();
        assert_eq!(shown, "9999-12-31T23:59:59.999999");

        // Nested: a ROW's field is named; a value inside an ARRAY has no row of its own.
        let field = arrow_field("ROW<`when` TIMESTAMP>").unwrap();
        let DataType::Struct(fields) = field.data_type() else { panic!("not a struct") };
        let column: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![0, i64::MIN]));
        let row = StructArray::new(fields.clone(), vec![column], None);
        assert_eq!(
            check_values(&field, &row).unwrap_err(),
            "column `when`, row 1: TIMESTAMP of -9223372036854775808 microseconds since 1970-01-01 is outside years 1 to 9999"
        );
        let field = arrow_field("ARRAY<TIME>").unwrap();
        let DataType::List(item) = field.data_type() else { panic!("not a list") };
        let values: ArrayRef = Arc::new(Time64MicrosecondArray::from(vec![0, -5]));
        let list = ListArray::new(item.clone(), arrow::buffer::OffsetBuffer::from_lengths([2]), values, None);
        assert_eq!(check_values(&field, &list).unwrap_err(), "TIME of -5 microseconds is not within a day");
    }

    #[test]
    fn checks_logical_values() {
        use arrow::array::{ArrayRef, ListArray, StringBuilder};

        let json = StringArray::from(vec![Some("{\"a\": [1]}"), None, Some("nope")]);
        assert_eq!(
            check_values(&arrow_field("JSON").unwrap(), &json).unwrap_err(),
            "row 2: 'nope' is not a JSON value"
        );
        let numbers = StringArray::from(vec!["1.50", "-0", "NaN", "-Infinity", "12", ".5"]);
        assert!(check_values(&arrow_field("NUMERIC").unwrap(), &numbers).is_ok());
        for bad in ["1e5", "", "1.2.3", "abc", "-", "."] {
            let column = StringArray::from(vec![bad]);
            assert!(check_values(&arrow_field("NUMERIC").unwrap(), &column).is_err(), "{bad}");
        }

        // Nested: an ARRAY<JSON> element that is not JSON.
        let field = arrow_field("ARRAY<JSON>").unwrap();
        let DataType::List(item) = field.data_type() else { panic!("not a list") };
        let mut values = StringBuilder::new();
        values.append_value("[1]");
        values.append_value("{");
        let values: ArrayRef = Arc::new(values.finish());
        let list = ListArray::new(item.clone(), arrow::buffer::OffsetBuffer::from_lengths([2]), values, None);
        assert_eq!(check_values(&field, &list).unwrap_err(), "'{' is not a JSON value");
    }
}
