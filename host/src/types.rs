//! udfbox type strings (`BIGINT`, `DECIMAL(10, 2)`, `ARRAY<STRING>`, `ROW<`a` INT>` ...) and the
//! Arrow types they stand for. The Python side (`guest-runtime/udfbox/types.py`) prints the same
//! canonical strings.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, TimeUnit};

use crate::error::{Error, Result};

/// Types nest at most this deep (a type string comes from untrusted code).
pub const MAX_TYPE_DEPTH: usize = 32;
/// Type strings are at most this long.
pub const MAX_TYPE_CHARS: usize = 4096;

/// The Arrow type of a udfbox type string.
pub fn arrow_type(text: &str) -> Result<DataType> {
    if text.len() > MAX_TYPE_CHARS {
        return Err(Error::Invalid(format!("a type string is limited to {MAX_TYPE_CHARS} characters")));
    }
    let mut parser = Parser { text, pos: 0, depth: 0 };
    let ty = parser.parse()?;
    parser.skip_ws();
    if parser.pos != text.len() {
        return Err(parser.error("unexpected text"));
    }
    Ok(ty)
}

/// The list element field udfbox uses.
fn item(ty: DataType) -> Arc<Field> {
    Arc::new(Field::new("item", ty, true))
}

fn map_type(key: DataType, value: DataType) -> DataType {
    let entries = Fields::from(vec![Field::new("key", key, false), Field::new("value", value, true)]);
    DataType::Map(Arc::new(Field::new("entries", DataType::Struct(entries), false)), false)
}

/// The udfbox type an Arrow column is passed to Python as, and the Arrow type it must be cast to
/// first. `None` when udfbox cannot pass such a column to Python.
pub fn udf_type_of(ty: &DataType) -> Option<(String, DataType)> {
    Some(match ty {
        DataType::Boolean => ("BOOLEAN".into(), DataType::Boolean),
        DataType::Int8 => ("TINYINT".into(), DataType::Int8),
        DataType::Int16 | DataType::UInt8 => ("SMALLINT".into(), DataType::Int16),
        DataType::Int32 | DataType::UInt16 => ("INT".into(), DataType::Int32),
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => ("BIGINT".into(), DataType::Int64),
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
            (format!("MAP<{key}, {value}>"), map_type(key_ty, value_ty))
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

    fn parse(&mut self) -> Result<DataType> {
        self.depth += 1;
        if self.depth > MAX_TYPE_DEPTH {
            return Err(self.error(&format!("types nest at most {MAX_TYPE_DEPTH} deep")));
        }
        let ty = self.parse_one();
        self.depth -= 1;
        ty
    }

    fn parse_one(&mut self) -> Result<DataType> {
        let word = self.word()?.to_ascii_uppercase();
        let ty = match word.as_str() {
            "BOOLEAN" | "BOOL" => DataType::Boolean,
            "TINYINT" => DataType::Int8,
            "SMALLINT" => DataType::Int16,
            "INT" | "INTEGER" => DataType::Int32,
            "BIGINT" => DataType::Int64,
            "FLOAT" | "REAL" => DataType::Float32,
            "DOUBLE" => DataType::Float64,
            "STRING" | "VARCHAR" | "CHAR" => DataType::Utf8,
            "BYTES" | "VARBINARY" | "BINARY" => DataType::Binary,
            "DATE" => DataType::Date32,
            "TIME" => DataType::Time64(TimeUnit::Microsecond),
            "TIMESTAMP" => DataType::Timestamp(TimeUnit::Microsecond, None),
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
                return self.not_null(DataType::Decimal128(p as u8, s as i8));
            }
            "ARRAY" => {
                self.expect('<')?;
                let element = self.parse()?;
                self.expect('>')?;
                return self.not_null(DataType::List(item(element)));
            }
            "MAP" => {
                self.expect('<')?;
                let key = self.parse()?;
                self.expect(',')?;
                let value = self.parse()?;
                self.expect('>')?;
                return self.not_null(map_type(key, value));
            }
            "ROW" => {
                self.expect('<')?;
                let mut fields = Vec::new();
                loop {
                    let name = self.name()?;
                    fields.push(Field::new(name, self.parse()?, true));
                    if self.peek() != Some(',') {
                        break;
                    }
                    self.pos += 1;
                }
                self.expect('>')?;
                return self.not_null(DataType::Struct(Fields::from(fields)));
            }
            _ => return Err(self.error(&format!("unknown type {word}"))),
        };
        if self.args()?.len() > 1 {
            return Err(self.error(&format!("{word} takes at most one argument")));
        }
        self.not_null(ty)
    }

    /// Nullability is accepted for PyFlink compatibility; Arrow columns stay nullable.
    fn not_null(&mut self, ty: DataType) -> Result<DataType> {
        let save = self.pos;
        self.skip_ws();
        let rest = &self.text[self.pos..];
        if rest.len() >= 8 && rest[..3].eq_ignore_ascii_case("NOT") {
            let tail = rest[3..].trim_start();
            if tail.len() >= 4 && tail[..4].eq_ignore_ascii_case("NULL") {
                self.pos = self.text.len() - tail.len() + 4;
                return Ok(ty);
            }
        }
        self.pos = save;
        Ok(ty)
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
}
