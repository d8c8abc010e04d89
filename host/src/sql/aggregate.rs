//! Python aggregate functions in DataFusion: grouped and global aggregates through a
//! `GroupsAccumulator` (one boundary crossing per batch, however many groups it touches), window
//! aggregates over sliding frames through an `Accumulator` with `retract`.
//!
//! Accumulators live on the host as their pickled bytes, one Binary value per group (NULL until
//! the group's first row): each batch sends the states of the groups it touches into the
//! sandbox and takes the updated ones back. Any instance, of any sandbox, can therefore carry on
//! an aggregation.
//!
//! Flink calls `merge` only for session and hop windows, and PyFlink users ship aggregates whose
//! `merge` is wrong or raises. In a session from [`crate::sql::session`] (the CLI's, the
//! server's), [`SinglePhaseAggregates`] therefore plans every aggregate holding a Python function
//! in one phase: rows are hash-partitioned by group (or gathered into one partition for a global
//! aggregate), so each group has exactly one accumulator, which lives across batches, and `merge`
//! never runs. Only a DataFusion session of the caller's own, which aggregates in two phases,
//! combines partial aggregates through `merge`.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BinaryArray, BooleanArray, Int32Array};
use arrow::datatypes::{DataType, Field, FieldRef};
use arrow::row::{RowConverter, SortField};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature};
use datafusion::scalar::ScalarValue;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::ExecutionPlan;

use crate::backend::{AggregateOp, FunctionSet};
use crate::error::{Error, Result};
use crate::sql::{external, SqlFunction};

/// A Python aggregate function as DataFusion sees it.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PythonAggregateUdf {
    function: SqlFunction,
    /// A table aggregate: each group's value is the list of rows it emits.
    table: bool,
}

impl PythonAggregateUdf {
    /// An aggregate, or a table aggregate (`udtaf`), whose SQL value per group is the list of
    /// rows it emits: `unnest` it, or use [`crate::sql::flat_aggregate`], to get them as rows.
    pub fn new(set: Arc<FunctionSet>, name: &str) -> Result<Self> {
        let mut function = SqlFunction::new(set, name)?;
        let table = function.set.function(name).is_some_and(|f| f.info.kind == "table_aggregate");
        if table {
            function.result_type = DataType::List(Arc::new(Field::new("item", function.result_type, true)));
        }
        Ok(Self { function, table })
    }
}

impl AggregateUDFImpl for PythonAggregateUdf {
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

    fn accumulator(&self, args: AccumulatorArgs) -> DfResult<Box<dyn Accumulator>> {
        Ok(Box::new(PythonAccumulator {
            set: self.function.set.clone(),
            name: self.function.name.clone(),
            table: self.table,
            state: None,
            distinct: args.is_distinct.then(DistinctRows::default),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> DfResult<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(format!("{}[accumulator]", args.name), DataType::Binary, true))])
    }

    /// `f(DISTINCT ...)` keeps the argument rows each group has seen, which only the
    /// one-group [`PythonAccumulator`] does.
    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        !args.is_distinct
    }

    fn create_groups_accumulator(&self, _args: AccumulatorArgs) -> DfResult<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(PythonGroupsAccumulator {
            set: self.function.set.clone(),
            name: self.function.name.clone(),
            table: self.table,
            states: Vec::new(),
        }))
    }
}

/// Which rows of a batch go to which touched group: `touched[i]` is a group index,
/// `rows` the selected rows and `local[j]` the position in `touched` of row `rows[j]`'s group.
struct Touched {
    touched: Vec<usize>,
    rows: Vec<u32>,
    local: Vec<i32>,
}

fn touched_groups(group_indices: &[usize], filter: Option<&BooleanArray>) -> Touched {
    let mut slot: std::collections::HashMap<usize, i32> = std::collections::HashMap::new();
    let mut touched = Vec::new();
    let mut rows = Vec::with_capacity(group_indices.len());
    let mut local = Vec::with_capacity(group_indices.len());
    for (row, &group) in group_indices.iter().enumerate() {
        if let Some(filter) = filter {
            if !filter.is_valid(row) || !filter.value(row) {
                continue;
            }
        }
        let index = *slot.entry(group).or_insert_with(|| {
            touched.push(group);
            (touched.len() - 1) as i32
        });
        rows.push(row as u32);
        local.push(index);
    }
    Touched { touched, rows, local }
}

/// The accumulators of every group of one aggregation, pickled.
#[derive(Debug)]
struct PythonGroupsAccumulator {
    set: Arc<FunctionSet>,
    name: String,
    table: bool,
    states: Vec<Option<Vec<u8>>>,
}

/// The value of every accumulator in `states`: `get_value` results, or for a table aggregate the
/// list of rows each one emits.
fn evaluate(set: &FunctionSet, name: &str, table: bool, states: &BinaryArray) -> Result<ArrayRef> {
    if !table {
        return set.finish(name, states);
    }
    let (sources, rows) = set.emit(name, states)?;
    let mut lengths = vec![0usize; states.len()];
    for (i, &group) in sources.values().iter().enumerate() {
        if i > 0 && group < sources.value(i - 1) {
            return Err(Error::Invalid(format!("table aggregate '{name}' emitted groups out of order")));
        }
        lengths[group as usize] += 1;
    }
    let field = Arc::new(Field::new("item", rows.data_type().clone(), true));
    let offsets = arrow::buffer::OffsetBuffer::from_lengths(lengths);
    Ok(Arc::new(arrow::array::ListArray::try_new(field, offsets, Arc::new(rows), None)?))
}

impl PythonGroupsAccumulator {
    fn apply(
        &mut self,
        op: AggregateOp,
        values: &[ArrayRef],
        group_indices: &[usize],
        filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> DfResult<()> {
        self.states.resize(total_num_groups, None);
        let Touched { touched, rows, local } = touched_groups(group_indices, filter);
        if touched.is_empty() {
            return Ok(());
        }
        let values: Vec<ArrayRef> = if rows.len() == group_indices.len() {
            values.to_vec()
        } else {
            let indices = arrow::array::UInt32Array::from(rows);
            values.iter().map(|v| arrow::compute::take(v, &indices, None)).collect::<Result<_, _>>()?
        };
        let states = BinaryArray::from_iter(touched.iter().map(|&g| self.states[g].as_deref()));
        let updated =
            self.set.aggregate(&self.name, op, &states, &Int32Array::from(local), &values).map_err(external)?;
        for (i, &group) in touched.iter().enumerate() {
            self.states[group] = updated.is_valid(i).then(|| updated.value(i).to_vec());
        }
        Ok(())
    }

    fn take(&mut self, emit_to: EmitTo) -> BinaryArray {
        BinaryArray::from_iter(emit_to.take_needed(&mut self.states).iter().map(|s| s.as_deref()))
    }
}

impl GroupsAccumulator for PythonGroupsAccumulator {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> DfResult<()> {
        self.apply(AggregateOp::Accumulate, values, group_indices, opt_filter, total_num_groups)
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> DfResult<ArrayRef> {
        let states = self.take(emit_to);
        evaluate(&self.set, &self.name, self.table, &states).map_err(external)
    }

    fn state(&mut self, emit_to: EmitTo) -> DfResult<Vec<ArrayRef>> {
        Ok(vec![Arc::new(self.take(emit_to))])
    }

    fn merge_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], total_num_groups: usize) -> DfResult<()> {
        self.apply(AggregateOp::Merge, values, group_indices, None, total_num_groups)
    }

    /// Each row as its own group: a one-row accumulator per row (filtered-out rows stay NULL,
    /// which merges as nothing).
    fn convert_to_state(&self, values: &[ArrayRef], opt_filter: Option<&BooleanArray>) -> DfResult<Vec<ArrayRef>> {
        let rows = values.first().map_or(0, |v| v.len());
        let mut converted = PythonGroupsAccumulator {
            set: self.set.clone(),
            name: self.name.clone(),
            table: self.table,
            states: Vec::new(),
        };
        let groups: Vec<usize> = (0..rows).collect();
        converted.apply(AggregateOp::Accumulate, values, &groups, opt_filter, rows)?;
        Ok(vec![Arc::new(converted.take(EmitTo::All))])
    }

    fn size(&self) -> usize {
        self.states.iter().map(|s| s.as_ref().map_or(0, Vec::len) + 24).sum()
    }
}

/// The argument rows one group has seen under `f(DISTINCT ...)`, with how often each is in
/// the group (window frames retract them), so a row reaches the function only when it is new
/// and leaves only with its last copy, as Flink's distinct aggregates do.
#[derive(Debug, Default)]
struct DistinctRows {
    converter: Option<RowConverter>,
    counts: std::collections::HashMap<Vec<u8>, usize>,
}

impl DistinctRows {
    /// The rows of `values` whose count goes from 0 to 1 (`entering`) or from 1 to 0 (leaving).
    fn changed(&mut self, values: &[ArrayRef], entering: bool) -> DfResult<Vec<ArrayRef>> {
        if self.converter.is_none() {
            let fields = values.iter().map(|v| SortField::new(v.data_type().clone())).collect();
            self.converter = Some(RowConverter::new(fields)?);
        }
        let rows = self.converter.as_ref().expect("set above").convert_columns(values)?;
        let mut changed = Vec::new();
        for (index, row) in rows.iter().enumerate() {
            let key = row.as_ref();
            if entering {
                let count = self.counts.entry(key.to_vec()).or_insert(0);
                *count += 1;
                if *count == 1 {
                    changed.push(index as u32);
                }
            } else if let Some(count) = self.counts.get_mut(key) {
                *count -= 1;
                if *count == 0 {
                    self.counts.remove(key);
                    changed.push(index as u32);
                }
            }
        }
        let indices = arrow::array::UInt32Array::from(changed);
        Ok(values.iter().map(|v| arrow::compute::take(v, &indices, None)).collect::<Result<_, _>>()?)
    }
}

/// One group's accumulator, for window frames (`OVER (...)`), where rows enter with
/// `accumulate` and leave with `retract`, and for `f(DISTINCT ...)`.
#[derive(Debug)]
struct PythonAccumulator {
    set: Arc<FunctionSet>,
    name: String,
    table: bool,
    state: Option<Vec<u8>>,
    distinct: Option<DistinctRows>,
}

impl PythonAccumulator {
    fn apply(&mut self, op: AggregateOp, values: &[ArrayRef], rows: usize) -> DfResult<()> {
        if rows == 0 {
            return Ok(());
        }
        let states = BinaryArray::from_iter([self.state.as_deref()]);
        let groups = Int32Array::from(vec![0; rows]);
        let updated = self.set.aggregate(&self.name, op, &states, &groups, values).map_err(external)?;
        self.state = updated.is_valid(0).then(|| updated.value(0).to_vec());
        Ok(())
    }
}

impl Accumulator for PythonAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        let values = match &mut self.distinct {
            Some(distinct) => distinct.changed(values, true)?,
            None => values.to_vec(),
        };
        let rows = values.first().map_or(0, |v| v.len());
        self.apply(AggregateOp::Accumulate, &values, rows)
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        let values = match &mut self.distinct {
            Some(distinct) => distinct.changed(values, false)?,
            None => values.to_vec(),
        };
        let rows = values.first().map_or(0, |v| v.len());
        self.apply(AggregateOp::Retract, &values, rows)
    }

    fn supports_retract_batch(&self) -> bool {
        // A function without retract() fails with a clear Python error when a frame slides.
        true
    }

    fn evaluate(&mut self) -> DfResult<ScalarValue> {
        let states = BinaryArray::from_iter([self.state.as_deref()]);
        let value = evaluate(&self.set, &self.name, self.table, &states).map_err(external)?;
        ScalarValue::try_from_array(&value, 0)
    }

    fn state(&mut self) -> DfResult<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Binary(self.state.clone())])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DfResult<()> {
        if self.distinct.is_some() {
            // Partial accumulators do not carry the rows they saw, so merging them could count
            // a row twice; udfbox's sessions plan these aggregates in one phase.
            return Err(external(Error::Invalid(format!(
                "'{}(DISTINCT ...)' needs a one-phase aggregation (a session from udfbox::sql::session)",
                self.name
            ))));
        }
        let rows = states.first().map_or(0, |s| s.len());
        self.apply(AggregateOp::Merge, states, rows)
    }

    fn size(&self) -> usize {
        let seen = self.distinct.as_ref().map_or(0, |d| d.counts.keys().map(|k| k.len() + 32).sum());
        std::mem::size_of::<Self>() + self.state.as_ref().map_or(0, Vec::len) + seen
    }
}

/// A physical optimizer rule, run before DataFusion's own: an aggregation in two phases (partial
/// aggregates per partition, then merged) that involves a Python aggregate becomes one phase
/// over rows partitioned by group (`SinglePartitioned`) or gathered into one partition
/// (`Single`, for a global aggregate). DataFusion's distribution rule then inserts the
/// repartitioning. Each group then has one accumulator and `merge` is never needed, as in Flink
/// outside session and hop windows.
#[derive(Debug, Default)]
pub struct SinglePhaseAggregates;

fn involves_python(aggregate: &AggregateExec) -> bool {
    aggregate.aggr_expr().iter().any(|e| e.fun().inner().is::<PythonAggregateUdf>())
}

impl PhysicalOptimizerRule for SinglePhaseAggregates {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> DfResult<Arc<dyn ExecutionPlan>> {
        plan.transform_down(|plan| {
            let Some(last) = plan.downcast_ref::<AggregateExec>() else {
                return Ok(Transformed::no(plan));
            };
            let mode = match last.mode() {
                AggregateMode::Final => AggregateMode::Single,
                AggregateMode::FinalPartitioned => AggregateMode::SinglePartitioned,
                _ => return Ok(Transformed::no(plan)),
            };
            let Some(partial) = last.input().downcast_ref::<AggregateExec>() else {
                return Ok(Transformed::no(plan));
            };
            if *partial.mode() != AggregateMode::Partial || !involves_python(partial) {
                return Ok(Transformed::no(plan));
            }
            let single = AggregateExec::try_new(
                mode,
                partial.group_expr().clone(),
                partial.aggr_expr().to_vec(),
                partial.filter_expr().to_vec(),
                Arc::clone(partial.input()),
                partial.input_schema(),
            )?
            .with_limit_options(last.limit_options());
            Ok(Transformed::yes(Arc::new(single) as Arc<dyn ExecutionPlan>))
        })
        .data()
    }

    fn name(&self) -> &str {
        "udfbox_single_phase_aggregates"
    }

    fn schema_check(&self) -> bool {
        true
    }
}
