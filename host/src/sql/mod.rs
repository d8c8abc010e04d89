//! SQL through Apache DataFusion: UDFs become DataFusion scalar UDFs, data files become tables.

pub mod aggregate;
mod group_window;
pub mod lateral;
pub mod output;
pub mod stream;

use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::{Arc, OnceLock};

use arrow::datatypes::DataType;
use datafusion::datasource::file_format::options::ArrowReadOptions;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{
    AggregateUDF, ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature, Volatility,
};
use datafusion::prelude::{CsvReadOptions, JsonReadOptions, ParquetReadOptions, SessionContext};
use datafusion::scalar::ScalarValue;

use self::aggregate::PythonAggregateUdf;
use crate::backend::row::RowCall;
use crate::backend::{off_async_workers, FunctionSet};
use crate::error::{Error, Result};

/// What SQL needs to know of function `name` of `set`: its signature, the aliases it is found
/// under, its result type. Shared by the scalar and aggregate UDFs; two are equal when they are
/// the same function of the same set.
#[derive(Debug)]
pub(crate) struct SqlFunction {
    pub name: String,
    pub aliases: Vec<String>,
    pub signature: Signature,
    pub result_type: DataType,
    pub set: Arc<FunctionSet>,
}

impl SqlFunction {
    pub fn new(set: Arc<FunctionSet>, name: &str) -> Result<Self> {
        let function = set.function(name).ok_or_else(|| Error::Invalid(format!("unknown function '{name}'")))?;
        // A non-deterministic function must run for every row, never be folded into a constant.
        let volatility = if function.info.deterministic { Volatility::Immutable } else { Volatility::Volatile };
        let signature = match &function.input_types {
            Some(types) if types.is_empty() => Signature::nullary(volatility),
            Some(_) => Signature::user_defined(volatility),
            None => Signature::one_of(vec![TypeSignature::Nullary, TypeSignature::UserDefined], volatility),
        };
        // SQL folds unquoted identifiers to lower case: `addOne(x)` looks up `addone`.
        let lower = name.to_lowercase();
        let aliases = if lower != name { vec![lower] } else { Vec::new() };
        let result_type = function.result_type.clone();
        Ok(Self { name: name.to_string(), aliases, signature, result_type, set })
    }

    /// The Arrow types the arguments are cast to before the call.
    pub fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        let targets =
            self.set.argument_types(&self.name, arg_types).map_err(|e| DataFusionError::Plan(e.to_string()))?;
        Ok(targets.into_iter().map(|(_, ty)| ty).collect())
    }
}

impl PartialEq for SqlFunction {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && Arc::ptr_eq(&self.set, &other.set)
    }
}

impl Eq for SqlFunction {}

impl Hash for SqlFunction {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        (Arc::as_ptr(&self.set) as usize).hash(state);
    }
}

pub(crate) fn external(error: Error) -> DataFusionError {
    DataFusionError::External(Box::new(error))
}

/// A Python scalar UDF as DataFusion sees it. Each call carries a whole batch; a batch of one
/// row (every bundle with `bundle.size=1`) takes the row path when the function has a compact
/// row encoding ([`FunctionSet::prepare`]), with the semantics of a one-row batch.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PythonScalarUdf {
    function: SqlFunction,
    row_path: RowPath,
}

impl PythonScalarUdf {
    /// The DataFusion UDF for function `name` of `set`.
    pub fn new(set: Arc<FunctionSet>, name: &str) -> Result<Self> {
        Ok(Self { function: SqlFunction::new(set, name)?, row_path: RowPath::default() })
    }

    /// The function on one row through the row path; `None` when it has no compact row
    /// encoding (or preparing it failed: the batch path then reports what is wrong).
    fn call_row(&self, args: &[ColumnarValue]) -> Option<DfResult<ScalarValue>> {
        let set = &self.function.set;
        let call = match self.row_path.0.get() {
            Some(prepared) => prepared.as_ref()?,
            None => {
                // Prepared once, at the first one-row call; a failure is not kept, so a sandbox
                // that was down for it does not cost the function its row path.
                let prepared = off_async_workers(|| set.prepare_row_call(&self.function.name)).ok()?;
                self.row_path.0.get_or_init(|| prepared.is_compact().then_some(prepared)).as_ref()?
            }
        };
        let values = args.iter().map(|arg| match arg {
            ColumnarValue::Scalar(value) => Ok(value.clone()),
            ColumnarValue::Array(array) => ScalarValue::try_from_array(array, 0),
        });
        Some(
            values
                .collect::<DfResult<Vec<_>>>()
                .and_then(|values| off_async_workers(|| call.call(set, &values)).map_err(external)),
        )
    }
}

/// A scalar UDF's row-path call, prepared at its first one-row call (`None` inside: the function
/// has no compact row encoding). A cache, not part of the UDF's identity.
#[derive(Debug, Default)]
struct RowPath(OnceLock<Option<RowCall>>);

impl PartialEq for RowPath {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl Eq for RowPath {}

impl Hash for RowPath {
    fn hash<H: Hasher>(&self, _state: &mut H) {}
}

impl ScalarUDFImpl for PythonScalarUdf {
    fn name(&self) -> &str {
        &self.function.name
    }

    fn aliases(&self) -> &[String] {
        &self.function.aliases
    }

    fn signature(&self) -> &Signature {
        &self.function.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(self.function.result_type.clone())
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        self.function.coerce_types(arg_types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        if rows == 1 {
            if let Some(result) = self.call_row(&args.args) {
                return Ok(ColumnarValue::Array(result?.to_array()?));
            }
        }
        let arrays = args.args.iter().map(|a| a.to_array(rows)).collect::<DfResult<Vec<_>>>()?;
        let result = self.function.set.call(&self.function.name, &arrays, rows).map_err(external)?;
        Ok(ColumnarValue::Array(result))
    }
}

/// Names DataFusion plans itself whatever is registered under them.
const PLANNED_BY_DATAFUSION: &[&str] = &["make_array", "make_map", "named_struct", "struct", "get_field"];

/// Whether `name(...)` in SQL reaches a registered function of that name. `substr(x, 1)`, for
/// one, is SQL syntax (SUBSTRING) and never looks up a function.
pub fn callable_unquoted(name: &str) -> bool {
    use datafusion::sql::sqlparser::ast::{Expr, SelectItem, SetExpr, Statement};
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::parser::Parser;
    if PLANNED_BY_DATAFUSION.contains(&name.to_lowercase().as_str()) {
        return false;
    }
    // After another select item, as in real queries (`minus` parses alone but not mid-list).
    let Ok(statements) = Parser::parse_sql(&GenericDialect {}, &format!("SELECT 0, {name}(1, 2)")) else {
        return false;
    };
    let [Statement::Query(query)] = statements.as_slice() else { return false };
    let SetExpr::Select(select) = query.body.as_ref() else { return false };
    matches!(select.projection.as_slice(), [_, SelectItem::UnnamedExpr(Expr::Function(f))]
        if f.name.to_string().eq_ignore_ascii_case(name))
}

/// Registers every function of `set` with `ctx`. A user's function wins over a DataFusion
/// built-in of the same name, whatever their kinds. A function whose name SQL treats as syntax
/// (`substr`, `trim`, `ceil` ...) is registered too, with a warning: it is reached only quoted,
/// `"substr"(...)`; unquoted, the built-in runs.
pub fn register_functions(ctx: &SessionContext, set: &Arc<FunctionSet>) -> Result<()> {
    let functions: Vec<(String, String)> =
        set.functions().map(|f| (f.info.name.clone(), f.info.kind.clone())).collect();
    for (name, kind) in functions {
        if !callable_unquoted(&name) {
            tracing::warn!(
                "UDF '{name}' has a name SQL treats specially: `{name}(...)` runs the built-in; call yours as \"{name}\"(...)"
            );
        }
        match kind.as_str() {
            "scalar" => ctx.register_udf(ScalarUDF::from(PythonScalarUdf::new(set.clone(), &name)?)),
            "aggregate" | "table_aggregate" => {
                let udaf = AggregateUDF::from(PythonAggregateUdf::new(set.clone(), &name)?);
                // DataFusion looks a call up among scalar (then higher-order) functions before
                // aggregates: a built-in `concat` would hide the user's aggregate `concat`.
                for called in std::iter::once(udaf.name()).chain(udaf.aliases().iter().map(String::as_str)) {
                    ctx.deregister_udf(called);
                    ctx.deregister_higher_order_function(called);
                }
                ctx.register_udaf(udaf)
            }
            // Table functions are reached through LATERAL TABLE(...) (see `lateral`).
            _ => {}
        }
    }
    Ok(())
}

/// A DataFusion session that can run udfbox's extension operators (`LATERAL TABLE(...)`).
pub fn session() -> SessionContext {
    session_with_config(datafusion::prelude::SessionConfig::new())
}

/// [`session`] for the functions of `set`: DataFusion's batch size is the set's bundle size
/// (`python.fn-execution.bundle.size`).
pub fn session_for(set: &FunctionSet) -> SessionContext {
    session_with_config(datafusion::prelude::SessionConfig::new().with_batch_size(set.options().config.bundle_size))
}

/// [`session`] with a DataFusion configuration (partitions, batch size ...). Aggregates with a
/// Python function run in one phase (see [`aggregate::SinglePhaseAggregates`]).
pub fn session_with_config(config: datafusion::prelude::SessionConfig) -> SessionContext {
    // Ahead of DataFusion's own rules, so its distribution rule sees the one-phase aggregates.
    let mut physical_rules: Vec<Arc<dyn datafusion::physical_optimizer::PhysicalOptimizerRule + Send + Sync>> =
        vec![Arc::new(self::aggregate::SinglePhaseAggregates)];
    physical_rules.extend(datafusion::physical_optimizer::optimizer::PhysicalOptimizer::new().rules);
    let state = datafusion::execution::SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .with_physical_optimizer_rules(physical_rules)
        .with_query_planner(Arc::new(self::lateral::UdfboxQueryPlanner))
        .build();
    SessionContext::new_with_state(state)
}

/// Plans a query with the functions of `set` registered in `ctx` (see [`register_functions`]),
/// understanding Flink's `LATERAL TABLE(f(...)) AS T(a, b)` joins over its table functions and
/// its `TUMBLE` / `HOP` group windows.
/// `ctx` must come from [`session`].
pub async fn query(
    ctx: &SessionContext,
    set: &Arc<FunctionSet>,
    sql: &str,
) -> DfResult<datafusion::dataframe::DataFrame> {
    let plan = self::lateral::plan(ctx, set, sql).await?;
    ctx.execute_logical_plan(plan).await
}

/// Table aggregate `function` (a `udtaf`) of `set` over `df` grouped by `group_by`: one output
/// row per row the function emits for a group, with the group's keys first and then the emitted
/// row's fields (Flink's `group_by(...).flat_aggregate(...)`). The SQL form is
/// `SELECT k, r['f0'] FROM (SELECT k, unnest(f(x)) AS r FROM t GROUP BY k)`.
pub fn flat_aggregate(
    df: datafusion::dataframe::DataFrame,
    set: &Arc<FunctionSet>,
    group_by: Vec<datafusion::logical_expr::Expr>,
    function: &str,
    args: Vec<datafusion::logical_expr::Expr>,
) -> DfResult<datafusion::dataframe::DataFrame> {
    use datafusion::logical_expr::{col, Expr};
    let info = set.function(function).ok_or_else(|| DataFusionError::Plan(format!("unknown function '{function}'")))?;
    if info.info.kind != "table_aggregate" {
        return Err(DataFusionError::Plan(format!("'{function}' is not a table aggregate (udtaf)")));
    }
    let DataType::Struct(fields) = &info.result_type else {
        return Err(DataFusionError::Plan(format!("'{function}' has no row result type")));
    };
    let fields = fields.clone();
    let udaf = AggregateUDF::from(PythonAggregateUdf::new(set.clone(), function).map_err(external)?);
    const ROWS: &str = "__udfbox_flat_rows";
    let grouped = df.aggregate(group_by, vec![udaf.call(args).alias(ROWS)])?;
    let keys: Vec<Expr> = grouped.schema().columns().into_iter().filter(|c| c.name != ROWS).map(Expr::Column).collect();
    let flat = grouped.unnest_columns(&[ROWS])?;
    let mut projection = keys;
    for field in fields.iter() {
        projection.push(
            datafusion::functions::core::expr_fn::get_field(col(ROWS), field.name().as_str()).alias(field.name()),
        );
    }
    flat.select(projection)
}

/// Registers a data file as table `name`, by its extension: `.csv` (with a header row),
/// `.parquet`, `.json`/`.jsonl`/`.ndjson` (JSON lines), `.arrow`/`.ipc`/`.feather` (Arrow IPC).
pub async fn register_table(ctx: &SessionContext, name: &str, path: &Path) -> Result<()> {
    let display = path.display().to_string();
    if !path.is_file() {
        return Err(Error::Invalid(format!("table file not found: {display}")));
    }
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let suffix = format!(".{}", path.extension().and_then(|e| e.to_str()).unwrap_or(""));
    let result = match extension.as_str() {
        "csv" => {
            let options = CsvReadOptions::new().has_header(true).file_extension(&suffix);
            ctx.register_csv(name, &display, options).await
        }
        "parquet" => {
            let options = ParquetReadOptions { file_extension: &suffix, ..Default::default() };
            ctx.register_parquet(name, &display, options).await
        }
        "json" | "jsonl" | "ndjson" => {
            let options = JsonReadOptions { file_extension: &suffix, ..Default::default() };
            ctx.register_json(name, &display, options).await
        }
        "arrow" | "ipc" | "feather" => {
            let options = ArrowReadOptions { file_extension: &suffix, ..Default::default() };
            ctx.register_arrow(name, &display, options).await
        }
        _ => {
            return Err(Error::Invalid(format!(
                "cannot tell the format of {display}: use .csv, .parquet, .json/.jsonl/.ndjson or .arrow/.ipc"
            )))
        }
    };
    result.map_err(|e| Error::Invalid(format!("cannot read table {name} from {display}: {}", one_line(&e.to_string()))))
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The udfbox error inside a DataFusion error, if there is one.
pub fn udfbox_error(error: &DataFusionError) -> Option<&Error> {
    let mut current: &(dyn std::error::Error + 'static) = error;
    loop {
        if let Some(found) = current.downcast_ref::<Error>() {
            return Some(found);
        }
        if let Some(DataFusionError::External(inner)) = current.downcast_ref::<DataFusionError>() {
            if let Some(found) = inner.downcast_ref::<Error>() {
                return Some(found);
            }
        }
        if let Some(arrow::error::ArrowError::ExternalError(inner)) = current.downcast_ref::<arrow::error::ArrowError>()
        {
            if let Some(found) = inner.downcast_ref::<Error>() {
                return Some(found);
            }
            if let Some(found) = inner.downcast_ref::<DataFusionError>().and_then(udfbox_error) {
                return Some(found);
            }
        }
        current = current.source()?;
    }
}

/// A DataFusion error as one readable message: the udfbox error inside it when there is one.
pub fn describe(error: &DataFusionError) -> String {
    match udfbox_error(error) {
        Some(inner) => inner.to_string(),
        None => one_line(&error.find_root().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::callable_unquoted;

    #[test]
    fn tells_sql_syntax_from_function_calls() {
        for plain in ["add", "upper", "addOne", "clean_name", "my_substr"] {
            assert!(callable_unquoted(plain), "{plain}");
        }
        for special in ["substr", "SUBSTRING", "trim", "ceil", "floor", "make_array", "minus"] {
            assert!(!callable_unquoted(special), "{special}");
        }
    }
}
