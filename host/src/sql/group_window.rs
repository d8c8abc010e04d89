//! Flink's group windows in SQL, rewritten to DataFusion SQL before planning (as `LATERAL TABLE`
//! is): `GROUP BY TUMBLE(ts, size)` with `TUMBLE_START`, `TUMBLE_END` and `TUMBLE_ROWTIME`
//! becomes `date_bin(size, ts, epoch)`; `GROUP BY HOP(ts, slide, size)` with `HOP_START`,
//! `HOP_END` and `HOP_ROWTIME` repeats each row once per window it falls in (the window starts
//! unnested in a subquery over the FROM table) and groups by the window start. Windows are
//! aligned to 1970-01-01 00:00:00, as Flink's are (without an offset). Flink's SESSION windows
//! are not offered: they need rows merged across windows as they arrive.
//!
//! The same pass takes Flink's lenient date-time literals: `CAST('1999-9-10 5:20:10' AS
//! TIMESTAMP)` and `DATE '2014-9-3'` have their one-digit fields zero-padded, which DataFusion's
//! parser needs (PyFlink's own tests write them so). [`rewrite_listagg`] takes Flink's
//! `LISTAGG(x [, separator])` as DataFusion's `string_agg(x, separator)`.

use std::ops::ControlFlow;

use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::sql::sqlparser::ast::{
    self, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, Select, SetExpr, TableFactor, VisitMut,
    VisitorMut,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

const EPOCH: &str = "TIMESTAMP '1970-01-01 00:00:00'";
/// The column of window starts a HOP rewrite adds to the FROM table.
const HOP_START: &str = "__udfbox_hop_start";
/// At most this many windows per row (size / slide).
const MAX_HOP_WINDOWS: u64 = 1000;

/// Rewrites the group windows in `statement` (nothing when there are none).
pub(crate) fn rewrite(statement: &mut ast::Statement) -> DfResult<()> {
    match statement.visit(&mut GroupWindows) {
        ControlFlow::Break(error) => Err(error),
        ControlFlow::Continue(()) => Ok(()),
    }
}

struct GroupWindows;

impl VisitorMut for GroupWindows {
    type Break = DataFusionError;

    fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<DataFusionError> {
        hop(select).map_or_else(ControlFlow::Break, ControlFlow::Continue)
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<DataFusionError> {
        pad_date_time_literal(expr);
        tumble(expr).map_or_else(ControlFlow::Break, ControlFlow::Continue)
    }
}

/// Flink's `LISTAGG(x)` / `LISTAGG(x, separator)` (`,` by default) as DataFusion's
/// `string_agg(x, separator)`, which joins in input order as Flink's does. Only for a session
/// without a user function of that name: the user's function wins over a built-in.
pub(crate) fn rewrite_listagg(statement: &mut ast::Statement) {
    let _ = statement.visit(&mut ListAgg);
}

struct ListAgg;

impl VisitorMut for ListAgg {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let Expr::Function(function) = expr else { return ControlFlow::Continue(()) };
        let is_listagg = matches!(function.name.0.as_slice(), [part]
            if part.as_ident().is_some_and(|i| i.quote_style.is_none() && i.value.eq_ignore_ascii_case("listagg")));
        if let (true, FunctionArguments::List(list)) = (is_listagg, &mut function.args) {
            if list.args.len() == 1 {
                let comma = Expr::value(ast::Value::SingleQuotedString(",".into()));
                list.args.push(FunctionArg::Unnamed(FunctionArgExpr::Expr(comma)));
            }
            if list.args.len() == 2 {
                function.name = ast::ObjectName::from(vec![ast::Ident::new("string_agg")]);
            }
        }
        ControlFlow::Continue(())
    }
}

/// Zero-pads the one-digit fields of a string cast to, or typed as, DATE, TIME or TIMESTAMP.
fn pad_date_time_literal(expr: &mut Expr) {
    use ast::DataType;
    let (data_type, value) = match expr {
        Expr::Cast { expr: inner, data_type, .. } => match inner.as_mut() {
            Expr::Value(value) => (&*data_type, &mut value.value),
            _ => return,
        },
        Expr::TypedString(typed) => (&typed.data_type, &mut typed.value.value),
        _ => return,
    };
    if !matches!(data_type, DataType::Date | DataType::Time(..) | DataType::Timestamp(..) | DataType::Datetime(_)) {
        return;
    }
    if let ast::Value::SingleQuotedString(text) = value {
        if let Some(padded) = padded_date_time(text) {
            *text = padded;
        }
    }
}

/// `text` with the one-digit fields of its `y-m-d` date and `h:m:s` time zero-padded; `None`
/// when it is not of that shape or needs nothing.
fn padded_date_time(text: &str) -> Option<String> {
    fn pad(fields: &str, separator: char, count: std::ops::RangeInclusive<usize>, first_len: usize) -> Option<String> {
        let parts: Vec<&str> = fields.split(separator).collect();
        if !count.contains(&parts.len()) {
            return None;
        }
        let mut out = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            // The last time field may carry a fraction.
            let (digits, fraction) = part.split_once('.').unwrap_or((part, ""));
            let fraction_ok = fraction.is_empty() || (i == parts.len() - 1 && separator == ':');
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || !fraction_ok {
                return None;
            }
            if !fraction.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let width = if i == 0 { first_len } else { 2 };
            if digits.len() > width.max(2) {
                return None;
            }
            let padded = format!("{digits:0>width$}");
            out.push(if part.contains('.') { format!("{padded}.{fraction}") } else { padded });
        }
        Some(out.join(&separator.to_string()))
    }
    let trimmed = text.trim();
    let (date, time) = match trimmed.find([' ', 'T']) {
        Some(at) => (&trimmed[..at], Some((&trimmed[at..at + 1], &trimmed[at + 1..]))),
        None => (trimmed, None),
    };
    let padded = if date.contains('-') {
        let date = pad(date, '-', 3..=3, 4)?;
        match time {
            Some((separator, time)) => format!("{date}{separator}{}", pad(time, ':', 2..=3, 2)?),
            None => date,
        }
    } else if time.is_none() && date.contains(':') {
        pad(date, ':', 2..=3, 2)?
    } else {
        return None;
    };
    (padded != trimmed).then_some(padded)
}

fn plan_error(message: impl Into<String>) -> DataFusionError {
    DataFusionError::Plan(message.into())
}

/// `(NAME, arguments)` of a call to one of Flink's group-window functions.
fn window_call(expr: &Expr) -> Option<(String, Vec<Expr>)> {
    let Expr::Function(function) = expr else { return None };
    let [part] = function.name.0.as_slice() else { return None };
    let name = part.as_ident()?;
    if name.quote_style.is_some() {
        return None;
    }
    let upper = name.value.to_uppercase();
    if !(upper.starts_with("TUMBLE") || upper.starts_with("HOP") || upper.starts_with("SESSION")) {
        return None;
    }
    let FunctionArguments::List(list) = &function.args else { return None };
    let args = list
        .args
        .iter()
        .map(|arg| match arg {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    Some((upper, args))
}

fn parse_expr(text: &str) -> DfResult<Expr> {
    Parser::new(&GenericDialect {})
        .try_with_sql(text)
        .and_then(|mut parser| parser.parse_expr())
        .map_err(|e| plan_error(format!("rewriting a group window: {e}")))
}

fn tumble(expr: &mut Expr) -> DfResult<()> {
    let Some((name, args)) = window_call(expr) else { return Ok(()) };
    let suffix = match name.as_str() {
        "TUMBLE" | "TUMBLE_START" => "",
        "TUMBLE_END" => " + {size}",
        "TUMBLE_ROWTIME" => " + {size} - INTERVAL '1' MILLISECOND",
        _ => return Ok(()),
    };
    let [ts, size] = args.as_slice() else {
        return Err(plan_error(format!("{name} takes a time column and an interval: {name}(ts, INTERVAL '1' HOUR)")));
    };
    interval_millis(size)?;
    let start = format!("date_bin({size}, {ts}, {EPOCH})");
    *expr = parse_expr(&format!("({start}{})", suffix.replace("{size}", &size.to_string())))?;
    Ok(())
}

/// An interval literal's length in milliseconds: `INTERVAL '30' MINUTE`, `INTERVAL '1 hour'`.
fn interval_millis(expr: &Expr) -> DfResult<u64> {
    let Expr::Interval(interval) = expr else {
        return Err(plan_error(format!("a group window's size is an interval literal, got {expr}")));
    };
    let value = interval.value.to_string();
    let value = value.trim_matches('\'').trim();
    let (number, unit) = match &interval.leading_field {
        Some(field) => (value.to_string(), field.to_string()),
        None => {
            let (number, unit) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
            (number.to_string(), unit.trim().to_string())
        }
    };
    let unit_millis = match unit.to_uppercase().trim_end_matches('S') {
        "MILLISECOND" => 1,
        "SECOND" => 1_000,
        "MINUTE" => 60_000,
        "HOUR" => 3_600_000,
        "DAY" => 86_400_000,
        _ => return Err(plan_error(format!("a group window's size in {unit:?} units: use seconds to days"))),
    };
    let count: u64 = number.parse().map_err(|_| plan_error(format!("a group window's size must be whole {unit}s")))?;
    count
        .checked_mul(unit_millis)
        .filter(|&ms| ms > 0)
        .ok_or_else(|| plan_error("a group window's size must be positive"))
}

/// A HOP window in `select`'s GROUP BY: the FROM table gets a column of the starts of each
/// row's windows (one row per window), which the window functions then read.
fn hop(select: &mut Select) -> DfResult<()> {
    let GroupByExpr::Expressions(groups, _) = &select.group_by else { return Ok(()) };
    if groups.iter().any(|g| window_call(g).is_some_and(|(name, _)| name == "SESSION")) {
        return Err(plan_error(
            "SESSION group windows are not supported: a session grows and merges as rows arrive; \
             use TUMBLE or HOP windows",
        ));
    }
    let Some((ts, slide, size)) = groups
        .iter()
        .find_map(|g| match window_call(g) {
            Some((name, args)) if name == "HOP" => Some(args),
            _ => None,
        })
        .map(|args| match args.as_slice() {
            [ts, slide, size] => Ok((ts.clone(), slide.clone(), size.clone())),
            _ => Err(plan_error(
                "HOP takes a time column, a slide and a size: HOP(ts, INTERVAL '30' MINUTE, INTERVAL '1' HOUR)",
            )),
        })
        .transpose()?
    else {
        return Ok(());
    };
    let (slide_ms, size_ms) = (interval_millis(&slide)?, interval_millis(&size)?);
    if size_ms % slide_ms != 0 {
        return Err(plan_error("a HOP window's size must be a multiple of its slide"));
    }
    let windows = size_ms / slide_ms;
    if windows > MAX_HOP_WINDOWS {
        return Err(plan_error(format!("a HOP window spans at most {MAX_HOP_WINDOWS} slides, not {windows}")));
    }
    let [from] = select.from.as_mut_slice() else {
        return Err(plan_error("a HOP window needs a single table in FROM (use a subquery for joins)"));
    };
    if !from.joins.is_empty() {
        return Err(plan_error("a HOP window needs a single table in FROM (use a subquery for joins)"));
    }
    let alias = match &from.relation {
        TableFactor::Table { alias: Some(alias), .. } | TableFactor::Derived { alias: Some(alias), .. } => {
            alias.name.to_string()
        }
        TableFactor::Table { name, alias: None, .. } => name.0.last().map(ToString::to_string).unwrap_or_default(),
        _ => return Err(plan_error("a HOP window needs a named table or an aliased subquery in FROM")),
    };
    let latest = format!("date_bin({slide}, {ts}, {EPOCH})");
    let starts: Vec<String> = (0..windows)
        .map(|k| if k == 0 { latest.clone() } else { format!("{latest} - INTERVAL '{} milliseconds'", k * slide_ms) })
        .collect();
    let subquery = format!(
        "SELECT * FROM (SELECT *, unnest(make_array({})) AS {HOP_START} FROM {}) AS {alias}",
        starts.join(", "),
        from.relation
    );
    let parsed = Parser::new(&GenericDialect {})
        .try_with_sql(&subquery)
        .and_then(|mut parser| parser.parse_query())
        .map_err(|e| plan_error(format!("rewriting a HOP window: {e}")))?;
    let SetExpr::Select(outer) = *parsed.body else { return Err(plan_error("rewriting a HOP window")) };
    let Some(relation) = outer.from.into_iter().next().map(|f| f.relation) else {
        return Err(plan_error("rewriting a HOP window"));
    };
    from.relation = relation;
    let end = format!("{HOP_START} + INTERVAL '{size_ms} milliseconds'");
    let replace = |expr: &mut Expr| -> ControlFlow<DataFusionError> {
        let text = match window_call(expr) {
            Some((name, _)) if name == "HOP" || name == "HOP_START" => HOP_START.to_string(),
            Some((name, _)) if name == "HOP_END" => format!("({end})"),
            Some((name, _)) if name == "HOP_ROWTIME" => format!("({end} - INTERVAL '1' MILLISECOND)"),
            _ => return ControlFlow::Continue(()),
        };
        match parse_expr(&text) {
            Ok(new) => {
                *expr = new;
                ControlFlow::Continue(())
            }
            Err(e) => ControlFlow::Break(e),
        }
    };
    let mut result = ast::visit_expressions_mut(&mut select.projection, replace);
    if let ControlFlow::Continue(()) = result {
        result = ast::visit_expressions_mut(&mut select.group_by, replace);
    }
    if let ControlFlow::Continue(()) = result {
        result = ast::visit_expressions_mut(&mut select.having, replace);
    }
    match result {
        ControlFlow::Break(error) => Err(error),
        ControlFlow::Continue(()) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use datafusion::sql::parser::{DFParser, Statement};

    fn rewritten(sql: &str) -> Result<String, String> {
        let mut statement = DFParser::parse_sql(sql).unwrap().pop_front().unwrap();
        let Statement::Statement(inner) = &mut statement else { panic!("not SQL") };
        super::rewrite(inner).map_err(|e| e.to_string())?;
        Ok(inner.to_string())
    }

    #[test]
    fn listagg_becomes_string_agg() {
        let mut statement = DFParser::parse_sql("SELECT LISTAGG(b), listagg(b, '|'), \"listagg\"(b) FROM t")
            .unwrap()
            .pop_front()
            .unwrap();
        let Statement::Statement(inner) = &mut statement else { panic!("not SQL") };
        super::rewrite_listagg(inner);
        assert_eq!(inner.to_string(), "SELECT string_agg(b, ','), string_agg(b, '|'), \"listagg\"(b) FROM t");
    }

    #[test]
    fn flink_date_time_literals_are_zero_padded() {
        assert_eq!(super::padded_date_time("1999-9-10 5:20:10").as_deref(), Some("1999-09-10 05:20:10"));
        assert_eq!(super::padded_date_time("2014-9-3").as_deref(), Some("2014-09-03"));
        assert_eq!(super::padded_date_time("1:2:3.5").as_deref(), Some("01:02:03.5"));
        assert_eq!(super::padded_date_time("2018-3-11T03:00:00.123").as_deref(), Some("2018-03-11T03:00:00.123"));
        for unchanged in ["1999-09-10 05:20:10", "12:00:00", "now", "1999-9-10 05:20:10+08:00", "1-2", "123-4-5-6"] {
            assert_eq!(super::padded_date_time(unchanged), None, "{unchanged}");
        }
        let sql = rewritten(
            "SELECT cast ('1999-9-10 05:20:10' as TIMESTAMP), CAST('2014-9-13' AS DATE), DATE '2014-9-3', \
             CAST('1999-9-10' AS VARCHAR) FROM t",
        )
        .unwrap();
        assert!(sql.contains("CAST('1999-09-10 05:20:10' AS TIMESTAMP)"), "{sql}");
        assert!(sql.contains("CAST('2014-09-13' AS DATE)"), "{sql}");
        assert!(sql.contains("DATE '2014-09-03'"), "{sql}");
        assert!(sql.contains("CAST('1999-9-10' AS VARCHAR)"), "{sql}");
    }

    #[test]
    fn tumble_becomes_date_bin() {
        let sql = rewritten(
            "SELECT TUMBLE_END(ts, INTERVAL '1' HOUR), TUMBLE_ROWTIME(ts, INTERVAL '1 hour'), count(*) FROM t \
             GROUP BY TUMBLE(ts, INTERVAL '1' HOUR)",
        )
        .unwrap();
        assert!(
            sql.contains("(date_bin(INTERVAL '1' HOUR, ts, TIMESTAMP '1970-01-01 00:00:00') + INTERVAL '1' HOUR)"),
            "{sql}"
        );
        assert!(sql.contains("- INTERVAL '1' MILLISECOND"), "{sql}");
        assert!(sql.ends_with("GROUP BY (date_bin(INTERVAL '1' HOUR, ts, TIMESTAMP '1970-01-01 00:00:00'))"), "{sql}");
        // A quoted name is the user's own function.
        assert!(rewritten("SELECT \"tumble\"(ts) FROM t").unwrap().contains("\"tumble\"(ts)"));
    }

    #[test]
    fn hop_repeats_rows_per_window_keeping_the_table_name() {
        let sql = rewritten(
            "SELECT o.k, HOP_END(o.ts, INTERVAL '20' MINUTE, INTERVAL '1' HOUR) FROM orders AS o \
             GROUP BY o.k, HOP(o.ts, INTERVAL '20' MINUTE, INTERVAL '1' HOUR)",
        )
        .unwrap();
        assert!(sql.contains("unnest(make_array(date_bin(INTERVAL '20' MINUTE, o.ts"), "{sql}");
        assert!(sql.contains("INTERVAL '2400000 milliseconds'"), "{sql}");
        assert!(sql.contains("FROM orders AS o) AS o"), "{sql}");
        assert!(sql.contains("GROUP BY o.k, __udfbox_hop_start"), "{sql}");
        assert!(sql.contains("(__udfbox_hop_start + INTERVAL '3600000 milliseconds')"), "{sql}");
    }

    #[test]
    fn unsupported_windows_are_clear_errors() {
        for (sql, message) in [
            ("SELECT 1 FROM t GROUP BY HOP(ts, INTERVAL '25' MINUTE, INTERVAL '1' HOUR)", "multiple of its slide"),
            ("SELECT 1 FROM t GROUP BY HOP(ts, INTERVAL '1' SECOND, INTERVAL '2' HOUR)", "at most 1000"),
            ("SELECT 1 FROM t, u GROUP BY HOP(ts, INTERVAL '1' HOUR, INTERVAL '2' HOUR)", "single table"),
            ("SELECT 1 FROM t GROUP BY TUMBLE(ts, 5)", "interval literal"),
            ("SELECT 1 FROM t GROUP BY TUMBLE(ts, INTERVAL '1' MONTH)", "seconds to days"),
            ("SELECT 1 FROM t GROUP BY TUMBLE(ts)", "TUMBLE takes"),
            ("SELECT 1 FROM t GROUP BY SESSION(ts, INTERVAL '1' HOUR)", "SESSION group windows are not supported"),
        ] {
            let error = rewritten(sql).unwrap_err();
            assert!(error.contains(message), "{sql}: {error}");
        }
    }
}
