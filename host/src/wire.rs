//! The boundary format: an Arrow array as its nodes in pre-order, each with its validity bitmap
//! and its Arrow buffers (the layout of Arrow IPC record batches, without the flatbuffers). Both
//! backends speak it, so a batch crosses as bytes, never as one value at a time.

use arrow::array::{make_array, Array, ArrayData, ArrayRef, MutableArrayData};
use arrow::buffer::Buffer;
use arrow::datatypes::DataType;

use crate::error::{Error, Result};

/// One array node: `length` values, its validity bitmap (empty: no nulls) and its buffers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireNode {
    pub length: u32,
    pub null_count: u32,
    pub validity: Vec<u8>,
    pub buffers: Vec<Vec<u8>>,
}

/// A whole column: its udfbox type string and its nodes in pre-order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireColumn {
    pub data_type: String,
    pub nodes: Vec<WireNode>,
}

fn has_offsets(data: &ArrayData) -> bool {
    data.offset() != 0
        || data.nulls().is_some_and(|n| n.offset() != 0)
        || data.child_data().iter().any(has_offsets)
}

fn to_u32(n: usize, what: &str) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::Invalid(format!("{what} of {n} is too large to pass to a UDF")))
}

/// Encodes an array (already cast to the Arrow type of `data_type`).
pub fn encode(data_type: &str, array: &dyn Array) -> Result<WireColumn> {
    let mut data = array.to_data();
    if has_offsets(&data) {
        // A sliced array: copy it so that every node starts at offset 0, as the guest expects.
        let mut copy = MutableArrayData::new(vec![&data], false, data.len());
        copy.try_extend(0, 0, data.len())?;
        data = copy.freeze();
    }
    let mut nodes = Vec::new();
    push_nodes(&data, &mut nodes)?;
    Ok(WireColumn { data_type: data_type.to_string(), nodes })
}

fn push_nodes(data: &ArrayData, nodes: &mut Vec<WireNode>) -> Result<()> {
    let validity = match data.nulls() {
        Some(nulls) if nulls.null_count() > 0 => {
            let bytes = data.len().div_ceil(8);
            nulls.buffer().as_slice()[..bytes].to_vec()
        }
        _ => Vec::new(),
    };
    nodes.push(WireNode {
        length: to_u32(data.len(), "a column length")?,
        null_count: to_u32(data.null_count(), "a null count")?,
        validity,
        buffers: data.buffers().iter().map(|b| b.as_slice().to_vec()).collect(),
    });
    for child in data.child_data() {
        push_nodes(child, nodes)?;
    }
    Ok(())
}

/// Decodes a column the guest returned into an array of type `ty`, validating every buffer:
/// whatever comes back from the sandbox is untrusted.
pub fn decode(ty: &DataType, column: WireColumn) -> Result<ArrayRef> {
    let mut nodes = column.nodes.into_iter();
    let data = build(ty, &mut nodes)?;
    if nodes.next().is_some() {
        return Err(Error::Invalid(format!("malformed result column: extra nodes after {ty}")));
    }
    Ok(make_array(data))
}

fn build(ty: &DataType, nodes: &mut impl Iterator<Item = WireNode>) -> Result<ArrayData> {
    let node = nodes
        .next()
        .ok_or_else(|| Error::Invalid(format!("malformed result column: missing node for {ty}")))?;
    let children = match ty {
        DataType::List(field) | DataType::Map(field, _) => vec![build(field.data_type(), nodes)?],
        DataType::Struct(fields) => {
            fields.iter().map(|f| build(f.data_type(), nodes)).collect::<Result<Vec<_>>>()?
        }
        _ => Vec::new(),
    };
    let nulls = (!node.validity.is_empty()).then(|| Buffer::from_vec(node.validity));
    ArrayData::builder(ty.clone())
        .len(node.length as usize)
        .null_bit_buffer(nulls)
        .buffers(node.buffers.into_iter().map(Buffer::from_vec).collect())
        .child_data(children)
        .align_buffers(true)
        .build()
        .map_err(|e| Error::Invalid(format!("malformed result column of type {ty}: {e}")))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, ListArray, StringArray};
    use arrow::datatypes::Int64Type;

    use super::*;
    use crate::types::arrow_type;

    #[test]
    fn round_trips_sliced_arrays() {
        let strings: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), None, Some("ccc"), Some("")]));
        let sliced = strings.slice(1, 3);
        let back = decode(&DataType::Utf8, encode("STRING", &sliced).unwrap()).unwrap();
        assert_eq!(back.as_ref(), sliced.as_ref());

        let lists: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Int64Type, _, _>(vec![
            Some(vec![Some(1), None]),
            None,
            Some(vec![]),
            Some(vec![Some(4)]),
        ]));
        let ty = arrow_type("ARRAY<BIGINT>").unwrap();
        let sliced = lists.slice(1, 3);
        let back = decode(&ty, encode("ARRAY<BIGINT>", &sliced).unwrap()).unwrap();
        assert_eq!(back.as_ref(), sliced.as_ref());
    }

    #[test]
    fn rejects_malformed_columns() {
        let ints = Int64Array::from(vec![1, 2, 3]);
        let mut column = encode("BIGINT", &ints).unwrap();
        column.nodes[0].buffers[0].truncate(8);
        assert!(decode(&DataType::Int64, column).is_err());

        let strings = StringArray::from(vec!["ab"]);
        let mut column = encode("STRING", &strings).unwrap();
        column.nodes[0].buffers[1] = vec![0xff, 0xfe];
        assert!(decode(&DataType::Utf8, column).is_err());

        let column = WireColumn { data_type: "BIGINT".into(), nodes: vec![] };
        assert!(decode(&DataType::Int64, column).is_err());
    }
}
