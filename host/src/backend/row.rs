//! The row path: one call of one scalar function on one row, without Arrow batch encoding.
//!
//! [`FunctionSet::prepare`] resolves a function once: its row-path id in the runtime and, when
//! every declared argument and the result has one, a compact row encoding. A row is then a NULL
//! bitmap of `ceil(n / 8)` bytes (bit `i`: argument `i` is NULL) followed by each argument:
//! numbers little-endian at their width (zeros when NULL), BOOLEAN one byte, STRING a `u32` byte
//! length and UTF-8. A result is one byte, 1 for NULL, else 0 followed by the value. The runtime
//! (`udfbox.runtime._row_plan`) applies the same rule to the same type names. Any other function
//! is called as a one-row batch, so a handle works for every scalar function.

use std::sync::Mutex;

use arrow::array::ArrayRef;
use arrow::compute::cast;
use arrow::datatypes::DataType;
use datafusion::scalar::ScalarValue;

use super::{bad_result, fault_detail, nullable, ErrorPolicy, Function, FunctionSet};
use crate::error::{Error, Result};

/// How one value travels in the row encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    F32,
    F64,
    Bool,
    Utf8,
}

impl Slot {
    /// The slot of a udfbox type name, with the Arrow type its values have on the host.
    fn of(udf_type: &str) -> Option<(Slot, DataType)> {
        let name = udf_type.strip_suffix(" NOT NULL").unwrap_or(udf_type);
        Some(match name {
            "TINYINT" => (Slot::I8, DataType::Int8),
            "SMALLINT" => (Slot::I16, DataType::Int16),
            "INT" => (Slot::I32, DataType::Int32),
            "BIGINT" => (Slot::I64, DataType::Int64),
            "UTINYINT" => (Slot::U8, DataType::UInt8),
            "USMALLINT" => (Slot::U16, DataType::UInt16),
            "UINT" => (Slot::U32, DataType::UInt32),
            "UBIGINT" => (Slot::U64, DataType::UInt64),
            "FLOAT" => (Slot::F32, DataType::Float32),
            "DOUBLE" => (Slot::F64, DataType::Float64),
            "BOOLEAN" => (Slot::Bool, DataType::Boolean),
            "STRING" => (Slot::Utf8, DataType::Utf8),
            _ => return None,
        })
    }

    /// Bytes of a fixed-width value; `None` for STRING.
    fn width(self) -> Option<usize> {
        Some(match self {
            Slot::I8 | Slot::U8 | Slot::Bool => 1,
            Slot::I16 | Slot::U16 => 2,
            Slot::I32 | Slot::U32 | Slot::F32 => 4,
            Slot::I64 | Slot::U64 | Slot::F64 => 8,
            Slot::Utf8 => return None,
        })
    }

    /// Appends a non-NULL `value` of this slot's Arrow type; `false` when it is another type.
    fn write(self, value: &ScalarValue, out: &mut Vec<u8>) -> Result<bool> {
        match (self, value) {
            (Slot::I8, ScalarValue::Int8(Some(v))) => out.extend_from_slice(&v.to_le_bytes()),
            (Slot::I16, ScalarValue::Int16(Some(v))) => out.extend_from_slice(&v.to_le_bytes()),
            (Slot::I32, ScalarValue::Int32(Some(v))) => out.extend_from_slice(&v.to_le_bytes()),
            (Slot::I64, ScalarValue::Int64(Some(v))) => out.extend_from_slice(&v.to_le_bytes()),
            (Slot::U8, ScalarValue::UInt8(Some(v))) => out.extend_from_slice(&v.to_le_bytes()),
            (Slot::U16, ScalarValue::UInt16(Some(v))) => out.extend_from_slice(&v.to_le_bytes()),
            (Slot::U32, ScalarValue::UInt32(Some(v))) => out.extend_from_slice(&v.to_le_bytes()),
            (Slot::U64, ScalarValue::UInt64(Some(v))) => out.extend_from_slice(&v.to_le_bytes()),
            (Slot::F32, ScalarValue::Float32(Some(v))) => out.extend_from_slice(&v.to_le_bytes()),
            (Slot::F64, ScalarValue::Float64(Some(v))) => out.extend_from_slice(&v.to_le_bytes()),
            (Slot::Bool, ScalarValue::Boolean(Some(v))) => out.push(u8::from(*v)),
            (Slot::Utf8, ScalarValue::Utf8(Some(v))) => {
                let length = u32::try_from(v.len())
                    .map_err(|_| Error::Invalid("a string argument of the row path exceeds 4 GiB".into()))?;
                out.extend_from_slice(&length.to_le_bytes());
                out.extend_from_slice(v.as_bytes());
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The placeholder of a NULL argument.
    fn write_null(self, out: &mut Vec<u8>) {
        out.resize(out.len() + self.width().unwrap_or(4), 0);
    }

    /// A non-NULL result value from its bytes (untrusted: checked, never panics).
    fn read(self, bytes: &[u8]) -> std::result::Result<ScalarValue, String> {
        fn array<const N: usize>(bytes: &[u8]) -> std::result::Result<[u8; N], String> {
            bytes.try_into().map_err(|_| format!("a result of {} bytes, expected {N}", bytes.len()))
        }
        Ok(match self {
            Slot::I8 => ScalarValue::Int8(Some(i8::from_le_bytes(array(bytes)?))),
            Slot::I16 => ScalarValue::Int16(Some(i16::from_le_bytes(array(bytes)?))),
            Slot::I32 => ScalarValue::Int32(Some(i32::from_le_bytes(array(bytes)?))),
            Slot::I64 => ScalarValue::Int64(Some(i64::from_le_bytes(array(bytes)?))),
            Slot::U8 => ScalarValue::UInt8(Some(u8::from_le_bytes(array(bytes)?))),
            Slot::U16 => ScalarValue::UInt16(Some(u16::from_le_bytes(array(bytes)?))),
            Slot::U32 => ScalarValue::UInt32(Some(u32::from_le_bytes(array(bytes)?))),
            Slot::U64 => ScalarValue::UInt64(Some(u64::from_le_bytes(array(bytes)?))),
            Slot::F32 => ScalarValue::Float32(Some(f32::from_le_bytes(array(bytes)?))),
            Slot::F64 => ScalarValue::Float64(Some(f64::from_le_bytes(array(bytes)?))),
            Slot::Bool => match array::<1>(bytes)? {
                [0] => ScalarValue::Boolean(Some(false)),
                [1] => ScalarValue::Boolean(Some(true)),
                [b] => return Err(format!("a BOOLEAN result byte {b}")),
            },
            Slot::Utf8 => ScalarValue::Utf8(Some(
                String::from_utf8(bytes.to_vec()).map_err(|_| "a STRING result is not UTF-8".to_string())?,
            )),
        })
    }
}

/// One argument of a compact plan.
#[derive(Debug)]
struct Argument {
    slot: Slot,
    arrow_type: DataType,
    udf_type: String,
    nullable: bool,
}

/// What [`FunctionSet::prepare`] resolved for a function with a compact row encoding.
#[derive(Debug)]
struct Plan {
    id: u32,
    args: Vec<Argument>,
    result: Slot,
    bitmap_len: usize,
}

/// A function resolved once for calls of one row at a time ([`FunctionSet::prepare`]).
///
/// The error policy is the function's when the handle was made. Calls may come from several
/// threads at once.
#[derive(Debug)]
pub struct RowHandle<'a> {
    set: &'a FunctionSet,
    call: RowCall,
}

/// What a [`RowHandle`] calls through, owned rather than borrowed from the set, so that the SQL
/// layer can keep one per function next to its `Arc<FunctionSet>`. It must only be called with
/// the set that prepared it.
#[derive(Debug)]
pub(crate) struct RowCall {
    function: Function,
    policy: ErrorPolicy,
    plan: Option<Plan>,
    /// Reused for every row's encoding; taken out for the duration of a call, so concurrent
    /// calls each still work (with a buffer of their own).
    buffer: Mutex<Vec<u8>>,
}

impl FunctionSet {
    /// A handle that calls scalar function `name` one row at a time. Functions whose declared
    /// argument and result types are numbers, BOOLEAN or STRING take the compact row path;
    /// any other scalar function is called as a one-row batch through the same handle.
    pub fn prepare(&self, name: &str) -> Result<RowHandle<'_>> {
        Ok(RowHandle { set: self, call: self.prepare_row_call(name)? })
    }

    /// [`FunctionSet::prepare`]'s work, owned.
    pub(crate) fn prepare_row_call(&self, name: &str) -> Result<RowCall> {
        let function = self.function_of_kind(name, &["scalar"])?;
        let plan = match compact_plan(function) {
            Some((args, result)) => {
                let id = self.settle(name, self.backend.prepare_row(name))?;
                Some(Plan { id, bitmap_len: args.len().div_ceil(8), args, result })
            }
            None => None,
        };
        Ok(RowCall {
            function: function.clone(),
            policy: self.error_policy(name),
            plan,
            buffer: Mutex::new(Vec::new()),
        })
    }
}

/// The slots of a function with a compact row encoding.
fn compact_plan(function: &Function) -> Option<(Vec<Argument>, Slot)> {
    let info = &function.info;
    if info.func_type != "general" {
        return None;
    }
    let (result, result_type) = Slot::of(&info.result_type)?;
    if result_type != function.result_type {
        return None;
    }
    let declared = info.input_types.as_ref()?;
    let fields = function.input_fields.as_ref()?;
    let mut args = Vec::with_capacity(declared.len());
    for (udf_type, field) in declared.iter().zip(fields) {
        let (slot, arrow_type) = Slot::of(udf_type)?;
        if &arrow_type != field.data_type() {
            return None;
        }
        args.push(Argument { slot, arrow_type, udf_type: udf_type.clone(), nullable: field.is_nullable() });
    }
    Some((args, result))
}

fn datafusion_error(e: datafusion::error::DataFusionError) -> Error {
    Error::Invalid(e.to_string())
}

impl RowHandle<'_> {
    /// The function's name.
    pub fn name(&self) -> &str {
        &self.call.function.info.name
    }

    /// Whether calls take the compact row encoding (else: one-row batches).
    pub fn is_compact(&self) -> bool {
        self.call.is_compact()
    }

    /// Calls the function on one row. Arguments are cast to the declared types as a batch
    /// call casts them; the result has the function's result type. Errors, NULLs, the error
    /// policy, limits and output are those of [`FunctionSet::call`] with one row.
    pub fn call_row(&self, args: &[ScalarValue]) -> Result<ScalarValue> {
        self.call.call(self.set, args)
    }
}

impl RowCall {
    fn name(&self) -> &str {
        &self.function.info.name
    }

    pub(crate) fn is_compact(&self) -> bool {
        self.plan.is_some()
    }

    /// [`RowHandle::call_row`] through `set`, the set that prepared this call.
    pub(crate) fn call(&self, set: &FunctionSet, args: &[ScalarValue]) -> Result<ScalarValue> {
        let Some(plan) = &self.plan else { return self.call_batch(set, args) };
        if args.len() != plan.args.len() {
            // The batch path's message, for the same mistake.
            let types: Vec<DataType> = args.iter().map(ScalarValue::data_type).collect();
            set.argument_types(self.name(), &types)?;
            return Err(Error::Invalid(format!("'{}' takes {} arguments", self.name(), plan.args.len())));
        }
        let mut buffer = std::mem::take(&mut *self.buffer.lock().unwrap_or_else(|e| e.into_inner()));
        let result = self.call_compact(set, plan, args, &mut buffer);
        *self.buffer.lock().unwrap_or_else(|e| e.into_inner()) = buffer;
        result
    }

    fn call_compact(
        &self,
        set: &FunctionSet,
        plan: &Plan,
        args: &[ScalarValue],
        buffer: &mut Vec<u8>,
    ) -> Result<ScalarValue> {
        let name = &self.function.info.name;
        buffer.clear();
        buffer.resize(plan.bitmap_len, 0);
        for (i, (value, arg)) in args.iter().zip(&plan.args).enumerate() {
            if !value.is_null() && arg.slot.write(value, buffer)? {
                continue;
            }
            // NULL, or another type: cast as the batch path casts a column (Arrow's safe cast).
            let cast;
            let value = if value.is_null() {
                value
            } else {
                cast = cast_scalar(value, &arg.arrow_type)?;
                &cast
            };
            if value.is_null() {
                if !arg.nullable {
                    return Err(Error::Invalid(format!(
                        "argument {} of '{name}' is {}, but row 0 is NULL",
                        i + 1,
                        arg.udf_type
                    )));
                }
                buffer[i / 8] |= 1 << (i % 8);
                arg.slot.write_null(buffer);
            } else if !arg.slot.write(value, buffer)? {
                return Err(Error::Invalid(format!(
                    "argument {} of '{name}' cannot be cast to {}",
                    i + 1,
                    arg.udf_type
                )));
            }
        }
        let reply = set.backend.call_row(name, plan.id, buffer, self.policy);
        let decoded = set.settle(name, reply).and_then(|reply| {
            let value = match reply.value.split_first() {
                Some((1, [])) => {
                    if !self.function.result_field.is_nullable() {
                        return Err(bad_result(
                            name,
                            format!("row 0: expected {}, got NULL", self.function.info.result_type),
                        ));
                    }
                    self.null_result()?
                }
                Some((0, bytes)) => plan.result.read(bytes).map_err(|e| bad_result(name, e))?,
                _ => return Err(bad_result(name, "malformed row result")),
            };
            Ok((value, reply.failure))
        });
        match decoded {
            Ok((value, None)) => Ok(value),
            Ok((value, Some(failure))) => {
                set.note_failures(name, 1, 1, failure.to_string());
                Ok(value)
            }
            // As a batch: a fault that ends the sandbox nulls the row, when the type allows it,
            // reported as a one-row batch's replay pins it.
            Err(error)
                if self.policy == ErrorPolicy::Null && nullable(&error) && self.function.result_field.is_nullable() =>
            {
                set.note_failures(name, 1, 1, fault_detail(&error, &[0], 0));
                self.null_result()
            }
            Err(error) => Err(error),
        }
    }

    fn null_result(&self) -> Result<ScalarValue> {
        ScalarValue::try_from(&self.function.result_type).map_err(datafusion_error)
    }

    /// A function without a compact encoding: one row as a batch.
    fn call_batch(&self, set: &FunctionSet, args: &[ScalarValue]) -> Result<ScalarValue> {
        let arrays = args.iter().map(|v| v.to_array().map_err(datafusion_error)).collect::<Result<Vec<ArrayRef>>>()?;
        let result = set.call(self.name(), &arrays, 1)?;
        ScalarValue::try_from_array(&result, 0).map_err(datafusion_error)
    }
}

/// `value` cast to `target` the way the batch path casts a column.
fn cast_scalar(value: &ScalarValue, target: &DataType) -> Result<ScalarValue> {
    let array = value.to_array().map_err(datafusion_error)?;
    let cast = cast(&array, target)?;
    ScalarValue::try_from_array(&cast, 0).map_err(datafusion_error)
}
