//! Flink's table-function joins in SQL: `FROM t, LATERAL TABLE(f(a, b)) AS T(x, y)` and
//! `FROM t LEFT JOIN LATERAL TABLE(f(a)) AS T(x) ON TRUE`. DataFusion has no such operator, so
//! udfbox adds one:
//!
//! 1. [`rewrite`] turns each lateral call, in the SQL syntax tree, into a join with an empty
//!    placeholder table of the function's result columns, renamed by the alias, whose ON
//!    condition is a marker call carrying the arguments;
//! 2. DataFusion plans that as an ordinary join (names, qualifiers and types resolve as usual);
//! 3. [`replace_joins`] swaps each such join for a [`LateralTableNode`] over the left input;
//! 4. [`LateralPlanner`] makes it a [`LateralTableExec`]: per input batch, one call of the
//!    table function, and each input row repeated once per row it produced (or, for LEFT JOIN,
//!    kept once with NULLs when it produced none).

use std::any::Any;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchemaRef, DataFusionError, Result as DfResult};
use datafusion::datasource::MemTable;
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{
    ColumnarValue, Expr, Extension, JoinType, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    TypeSignature, UserDefinedLogicalNode, UserDefinedLogicalNodeCore, Volatility,
};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::EmissionType;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{DFParser, Statement};
use datafusion::sql::sqlparser::ast::{
    self as ast, FunctionArg, FunctionArgExpr, Ident, JoinConstraint, JoinOperator, ObjectName, ObjectNamePart,
    SetExpr, TableAlias, TableFactor, TableWithJoins,
};
use futures::StreamExt;

use crate::backend::FunctionSet;

const PLACEHOLDER: &str = "__udfbox_lateral_";
static NEXT: AtomicUsize = AtomicUsize::new(0);

fn plan_error(message: impl Into<String>) -> DataFusionError {
    DataFusionError::Plan(message.into())
}

/// Parses `sql`, rewrites its lateral table-function joins (see the module docs), registers
/// their placeholders with `ctx` and returns the statement with the placeholders' names.
fn rewrite(ctx: &SessionContext, set: &FunctionSet, sql: &str) -> DfResult<(Statement, Vec<String>)> {
    let mut statements = DFParser::parse_sql(sql)?;
    if statements.len() != 1 {
        return Err(plan_error("expected exactly one SQL statement"));
    }
    let mut statement = statements.pop_front().expect("one statement");
    let mut rewriter = Rewriter { set, found: Vec::new() };
    if let Statement::Statement(inner) = &mut statement {
        super::group_window::rewrite(inner)?;
        if !set.functions().any(|f| f.info.name.eq_ignore_ascii_case("listagg")) {
            super::group_window::rewrite_listagg(inner);
        }
        if let ast::Statement::Query(query) = inner.as_mut() {
            rewriter.query(query)?;
        }
    }
    let mut placeholders = Vec::new();
    for (placeholder, function) in rewriter.found {
        let info = set.function(&function).expect("resolved while rewriting");
        let DataType::Struct(fields) = &info.result_type else {
            return Err(plan_error(format!("'{function}' has no row result type")));
        };
        let fields: Vec<Field> = fields.iter().map(|f| f.as_ref().clone().with_nullable(true)).collect();
        let table = MemTable::try_new(Arc::new(Schema::new(fields)), vec![vec![]])?;
        ctx.register_table(placeholder.as_str(), Arc::new(table))?;
        ctx.register_udf(ScalarUDF::from(Marker::new(&placeholder, &function)));
        placeholders.push(placeholder);
    }
    Ok((statement, placeholders))
}

/// Walks a query's syntax tree; `found` collects (placeholder, table function) pairs.
struct Rewriter<'a> {
    set: &'a FunctionSet,
    found: Vec<(String, String)>,
}

impl Rewriter<'_> {
    fn query(&mut self, query: &mut ast::Query) -> DfResult<()> {
        if let Some(with) = &mut query.with {
            for cte in &mut with.cte_tables {
                self.query(&mut cte.query)?;
            }
        }
        self.set_expr(&mut query.body)
    }

    fn set_expr(&mut self, body: &mut SetExpr) -> DfResult<()> {
        match body {
            SetExpr::Select(select) => self.from(&mut select.from),
            SetExpr::Query(query) => self.query(query),
            SetExpr::SetOperation { left, right, .. } => {
                self.set_expr(left)?;
                self.set_expr(right)
            }
            _ => Ok(()),
        }
    }

    fn from(&mut self, from: &mut Vec<TableWithJoins>) -> DfResult<()> {
        // `FROM t, LATERAL TABLE(...)` is a join with the relation before it.
        let mut index = 0;
        while index < from.len() {
            if lateral_call(&from[index].relation).is_none() {
                index += 1;
                continue;
            }
            if index == 0 {
                return Err(plan_error(
                    "LATERAL TABLE(...) needs a table before it: FROM t, LATERAL TABLE(f(t.x)) AS T(y)",
                ));
            }
            let lateral = from.remove(index);
            let previous = &mut from[index - 1];
            previous.joins.push(ast::Join {
                relation: lateral.relation,
                global: false,
                join_operator: JoinOperator::Inner(JoinConstraint::On(ast::Expr::Value(
                    ast::Value::Boolean(true).into(),
                ))),
            });
            previous.joins.extend(lateral.joins);
        }
        for table in from.iter_mut() {
            self.table_with_joins(table)?;
        }
        Ok(())
    }

    fn table_with_joins(&mut self, table: &mut TableWithJoins) -> DfResult<()> {
        self.factor(&mut table.relation)?;
        for join in &mut table.joins {
            self.factor(&mut join.relation)?;
            let Some((call, alias)) = lateral_call(&join.relation) else { continue };
            let outer = match &join.join_operator {
                JoinOperator::Join(c) | JoinOperator::Inner(c) => on_true(c).then_some(false),
                JoinOperator::Left(c) | JoinOperator::LeftOuter(c) => on_true(c).then_some(true),
                JoinOperator::CrossJoin(JoinConstraint::None) => Some(false),
                _ => None,
            }
            .ok_or_else(|| {
                plan_error("a LATERAL TABLE(...) join takes ON TRUE: [LEFT] JOIN LATERAL TABLE(f(x)) AS T(y) ON TRUE")
            })?;
            let name = call.name.to_string();
            let function = self
                .set
                .functions()
                .find(|f| f.info.kind == "table" && f.info.name.eq_ignore_ascii_case(name.trim_matches('"')))
                .map(|f| f.info.name.clone())
                .ok_or_else(|| {
                    plan_error(format!("'{name}' is not a table function (udtf) of the loaded UDF files"))
                })?;
            let placeholder = format!("{PLACEHOLDER}{}", NEXT.fetch_add(1, Ordering::Relaxed));
            let placeholder_name = ObjectName(vec![ObjectNamePart::Identifier(Ident::new(&placeholder))]);
            let mut marker = call.clone();
            marker.name = placeholder_name.clone();
            let alias = alias.cloned().unwrap_or_else(|| TableAlias {
                explicit: true,
                name: Ident::new(&function),
                columns: Vec::new(),
                at: None,
            });
            join.relation = TableFactor::Table {
                name: placeholder_name,
                alias: Some(alias),
                args: None,
                with_hints: Vec::new(),
                version: None,
                with_ordinality: false,
                partitions: Vec::new(),
                json_path: None,
                sample: None,
                index_hints: Vec::new(),
            };
            let condition = JoinConstraint::On(ast::Expr::Function(marker));
            join.join_operator =
                if outer { JoinOperator::LeftOuter(condition) } else { JoinOperator::Inner(condition) };
            self.found.push((placeholder, function));
        }
        Ok(())
    }

    fn factor(&mut self, factor: &mut TableFactor) -> DfResult<()> {
        match factor {
            TableFactor::Derived { subquery, .. } => self.query(subquery),
            TableFactor::NestedJoin { table_with_joins, .. } => self.table_with_joins(table_with_joins),
            _ => Ok(()),
        }
    }
}

/// The table function called by `LATERAL TABLE(f(...))`, if `factor` is one.
fn lateral_call(factor: &TableFactor) -> Option<(&ast::Function, Option<&TableAlias>)> {
    let TableFactor::Function { lateral: true, name, args, alias, .. } = factor else { return None };
    if !name.to_string().eq_ignore_ascii_case("table") {
        return None;
    }
    match args.as_slice() {
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(ast::Expr::Function(call)))] => Some((call, alias.as_ref())),
        _ => None,
    }
}

fn on_true(constraint: &JoinConstraint) -> bool {
    matches!(constraint, JoinConstraint::On(ast::Expr::Value(v)) if v.value == ast::Value::Boolean(true))
}

/// Stands for a lateral call in the join condition until [`replace_joins`] removes it; never runs.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Marker {
    name: String,
    function: String,
    signature: Signature,
}

impl Marker {
    fn new(name: &str, function: &str) -> Self {
        let signature =
            Signature::one_of(vec![TypeSignature::Nullary, TypeSignature::VariadicAny], Volatility::Volatile);
        Self { name: name.to_string(), function: function.to_string(), signature }
    }
}

impl ScalarUDFImpl for Marker {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        Err(DataFusionError::Internal(format!("LATERAL TABLE({}(...)) was not planned", self.function)))
    }
}

/// A lateral table-function join: every row of `input` joined with the rows `function`
/// produced for it (`outer`: rows that produced none are kept once, with NULLs).
#[derive(Debug, Clone)]
pub struct LateralTableNode {
    input: LogicalPlan,
    set: Arc<FunctionSet>,
    function: String,
    args: Vec<Expr>,
    outer: bool,
    schema: DFSchemaRef,
}

impl PartialEq for LateralTableNode {
    fn eq(&self, other: &Self) -> bool {
        self.input == other.input
            && Arc::ptr_eq(&self.set, &other.set)
            && self.function == other.function
            && self.args == other.args
            && self.outer == other.outer
            && self.schema == other.schema
    }
}

impl Eq for LateralTableNode {}

impl Hash for LateralTableNode {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.input.hash(state);
        self.function.hash(state);
        self.args.hash(state);
        self.outer.hash(state);
    }
}

impl PartialOrd for LateralTableNode {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        (&self.function, self.outer).partial_cmp(&(&other.function, other.outer))
    }
}

impl UserDefinedLogicalNodeCore for LateralTableNode {
    fn name(&self) -> &str {
        "LateralTable"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        self.args.clone()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let args: Vec<String> = self.args.iter().map(|a| a.to_string()).collect();
        write!(f, "LateralTable: {}{}({})", if self.outer { "left " } else { "" }, self.function, args.join(", "))
    }

    fn with_exprs_and_inputs(&self, exprs: Vec<Expr>, mut inputs: Vec<LogicalPlan>) -> DfResult<Self> {
        let input = inputs.pop().ok_or_else(|| plan_error("LateralTable takes one input"))?;
        Ok(Self { input, args: exprs, ..self.clone() })
    }
}

/// Replaces every join with a lateral placeholder (see [`rewrite`]) by a [`LateralTableNode`].
fn replace_joins(plan: LogicalPlan, set: &Arc<FunctionSet>, placeholders: &[String]) -> DfResult<LogicalPlan> {
    let is_placeholder = |plan: &LogicalPlan| {
        plan.exists(|p| {
            Ok(matches!(p, LogicalPlan::TableScan(scan) if placeholders.iter().any(|n| scan.table_name.table() == n)))
        })
    };
    let replaced = plan.transform_up_with_subqueries(|node| {
        let LogicalPlan::Join(join) = &node else { return Ok(Transformed::no(node)) };
        if !is_placeholder(&join.right)? {
            return Ok(Transformed::no(node));
        }
        let marker = match &join.filter {
            Some(Expr::ScalarFunction(call)) if placeholders.iter().any(|n| n == call.func.name()) => call,
            _ => return Err(plan_error("a LATERAL TABLE(...) join takes ON TRUE and no other condition")),
        };
        let inner: &dyn ScalarUDFImpl = marker.func.inner().as_ref();
        let function = (inner as &dyn Any)
            .downcast_ref::<Marker>()
            .map(|m| m.function.clone())
            .ok_or_else(|| plan_error("malformed LATERAL TABLE(...) join"))?;
        let left_schema = join.left.schema();
        for arg in &marker.args {
            for column in arg.column_refs() {
                if !left_schema.has_column(column) {
                    return Err(plan_error(format!(
                        "the arguments of LATERAL TABLE({function}(...)) may use columns of the tables before it only, not {column}"
                    )));
                }
            }
        }
        let outer = match join.join_type {
            JoinType::Inner => false,
            JoinType::Left => true,
            other => return Err(plan_error(format!("LATERAL TABLE(...) cannot be a {other} join"))),
        };
        let lateral = LateralTableNode {
            input: join.left.as_ref().clone(),
            set: set.clone(),
            function,
            args: marker.args.clone(),
            outer,
            schema: join.schema.clone(),
        };
        Ok(Transformed::yes(LogicalPlan::Extension(Extension { node: Arc::new(lateral) })))
    })?;
    let plan = replaced.data;
    let mut left = None;
    plan.apply_with_subqueries(|p| {
        if let LogicalPlan::TableScan(scan) = p {
            if placeholders.iter().any(|n| scan.table_name.table() == n) {
                left = Some(scan.table_name.to_string());
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    if left.is_some() {
        return Err(plan_error("LATERAL TABLE(...) is supported in FROM joins only"));
    }
    Ok(plan)
}

/// Plans `sql` against `ctx`, with Flink's `LATERAL TABLE(...)` joins over the table functions
/// of `set`. The context must come from [`crate::sql::session`] for such joins to execute.
pub async fn plan(ctx: &SessionContext, set: &Arc<FunctionSet>, sql: &str) -> DfResult<LogicalPlan> {
    let (statement, placeholders) = rewrite(ctx, set, sql)?;
    let planned = ctx.state().statement_to_plan(statement).await;
    for placeholder in &placeholders {
        ctx.deregister_table(placeholder.as_str())?;
        ctx.deregister_udf(placeholder);
    }
    let plan = planned?;
    if placeholders.is_empty() {
        Ok(plan)
    } else {
        replace_joins(plan, set, &placeholders)
    }
}

/// Turns [`LateralTableNode`]s into [`LateralTableExec`]s.
#[derive(Debug)]
pub struct LateralPlanner;

#[async_trait]
impl ExtensionPlanner for LateralPlanner {
    async fn plan_extension(
        &self,
        planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        session: &dyn datafusion::catalog::Session,
        planning_ctx: &datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext,
    ) -> DfResult<Option<Arc<dyn ExecutionPlan>>> {
        let Some(node) = node.as_any().downcast_ref::<LateralTableNode>() else { return Ok(None) };
        let input_schema = logical_inputs[0].schema();
        let args = node
            .args
            .iter()
            .map(|a| planner.create_physical_expr(a, input_schema, session, planning_ctx))
            .collect::<DfResult<Vec<_>>>()?;
        let schema: SchemaRef = Arc::new(node.schema.as_arrow().clone());
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            physical_inputs[0].properties().output_partitioning().clone(),
            EmissionType::Incremental,
            // Unbounded over a streaming table, so DataFusion refuses what would wait for its end.
            physical_inputs[0].properties().boundedness,
        ));
        Ok(Some(Arc::new(LateralTableExec {
            input: physical_inputs[0].clone(),
            set: node.set.clone(),
            function: node.function.clone(),
            args,
            outer: node.outer,
            schema,
            properties,
        })))
    }
}

/// The query planner of a udfbox session: DataFusion's, plus the lateral table operator.
#[derive(Debug)]
pub struct UdfboxQueryPlanner;

#[async_trait]
impl QueryPlanner for UdfboxQueryPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session_state: &dyn datafusion::catalog::Session,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        DefaultPhysicalPlanner::with_extension_planners(vec![Arc::new(LateralPlanner)])
            .create_physical_plan(logical_plan, session_state)
            .await
    }
}

/// Runs a table function over each input batch and joins its rows to their input rows.
#[derive(Debug)]
pub struct LateralTableExec {
    input: Arc<dyn ExecutionPlan>,
    set: Arc<FunctionSet>,
    function: String,
    args: Vec<Arc<dyn PhysicalExpr>>,
    outer: bool,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl DisplayAs for LateralTableExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "LateralTableExec: {}{}", if self.outer { "left " } else { "" }, self.function)
    }
}

impl ExecutionPlan for LateralTableExec {
    fn name(&self) -> &str {
        "LateralTableExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        for arg in &self.args {
            if f(arg)? == TreeNodeRecursion::Stop {
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let input = children.pop().ok_or_else(|| plan_error("LateralTableExec takes one input"))?;
        Ok(Arc::new(LateralTableExec {
            input,
            set: self.set.clone(),
            function: self.function.clone(),
            args: self.args.clone(),
            outer: self.outer,
            schema: self.schema.clone(),
            properties: self.properties.clone(),
        }))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> DfResult<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let (set, function, args, outer, schema) =
            (self.set.clone(), self.function.clone(), self.args.clone(), self.outer, self.schema.clone());
        let output = schema.clone();
        let stream = input.map(move |batch| {
            let batch = batch?;
            join_batch(&set, &function, &args, outer, &output, &batch)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}

/// One input batch joined with what the table function made of it.
fn join_batch(
    set: &FunctionSet,
    function: &str,
    args: &[Arc<dyn PhysicalExpr>],
    outer: bool,
    schema: &SchemaRef,
    batch: &RecordBatch,
) -> DfResult<RecordBatch> {
    let rows = batch.num_rows();
    let values =
        args.iter().map(|a| a.evaluate(batch).and_then(|v| v.into_array(rows))).collect::<DfResult<Vec<ArrayRef>>>()?;
    let (sources, produced) = set.call_table(function, &values, rows).map_err(crate::sql::external)?;
    // Output rows in input order: each input row's produced rows, or (outer) one row of NULLs.
    let mut input_rows = Vec::with_capacity(sources.len());
    let mut produced_rows: Vec<Option<u32>> = Vec::with_capacity(sources.len());
    let mut next = 0usize;
    let sources = sources.values();
    for row in 0..rows {
        let start = next;
        while next < sources.len() && sources[next] as usize == row {
            input_rows.push(row as u32);
            produced_rows.push(Some(next as u32));
            next += 1;
        }
        if next == start && outer {
            input_rows.push(row as u32);
            produced_rows.push(None);
        }
    }
    if next != sources.len() {
        return Err(DataFusionError::Execution(format!("table function '{function}' returned rows out of order")));
    }
    let input_rows = UInt32Array::from(input_rows);
    let produced_rows = UInt32Array::from(produced_rows);
    let mut columns = Vec::with_capacity(schema.fields().len());
    for column in batch.columns() {
        columns.push(arrow::compute::take(column, &input_rows, None)?);
    }
    for column in produced.columns() {
        columns.push(arrow::compute::take(column, &produced_rows, None)?);
    }
    let columns = columns
        .into_iter()
        .zip(schema.fields())
        .map(|(column, field)| {
            if column.data_type() == field.data_type() {
                Ok(column)
            } else {
                arrow::compute::cast(&column, field.data_type())
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}
