//! The boundary format: an Arrow array as its nodes in pre-order, each with its validity bitmap
//! and its Arrow buffers (the layout of Arrow IPC record batches, without the flatbuffers). Both
//! backends speak it, so a batch crosses as bytes, never as one value at a time.

use arrow::array::{make_array, Array, ArrayData, ArrayRef, BufferSpec, MutableArrayData};
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

/// A range of a [`PackedColumn`]'s data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub offset: u32,
    pub length: u32,
}

/// A node of a [`PackedColumn`]: validity (empty: no nulls) and buffers are spans of its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackedNode {
    pub length: u32,
    pub null_count: u32,
    pub validity: Span,
    pub first_buffer: u32,
    pub buffer_count: u32,
}

/// A result column as it comes back from a UDF: the nodes of a [`WireColumn`], with every buffer
/// a span of one `data` blob. Arrow buffers are sliced out of the blob without copying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedColumn {
    pub data_type: String,
    pub nodes: Vec<PackedNode>,
    pub buffers: Vec<Span>,
    pub data: Vec<u8>,
}

/// Packs a column (each buffer 16-byte aligned in the blob), as the guest runtime does.
pub fn pack(column: WireColumn) -> PackedColumn {
    let mut data = Vec::new();
    let mut buffers = Vec::new();
    let place = |bytes: &[u8], data: &mut Vec<u8>| {
        data.resize(data.len().next_multiple_of(16), 0);
        let span = Span { offset: data.len() as u32, length: bytes.len() as u32 };
        data.extend_from_slice(bytes);
        span
    };
    let nodes = column
        .nodes
        .iter()
        .map(|node| {
            let validity =
                if node.validity.is_empty() { Span { offset: 0, length: 0 } } else { place(&node.validity, &mut data) };
            let first_buffer = buffers.len() as u32;
            for buffer in &node.buffers {
                buffers.push(place(buffer, &mut data));
            }
            PackedNode {
                length: node.length,
                null_count: node.null_count,
                validity,
                first_buffer,
                buffer_count: node.buffers.len() as u32,
            }
        })
        .collect();
    PackedColumn { data_type: column.data_type, nodes, buffers, data }
}

/// Argument columns as the sandbox boundary carries them (the WIT `columns` record): three
/// values for a batch of any shape. `layout` is little-endian u32s: for each column its node
/// count, then per node `length, null_count, buffer_count`, the `offset, length` of its validity
/// (length 0: no nulls) and of each buffer in `data`, where each starts 16-byte aligned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlatColumns {
    pub data_types: Vec<String>,
    pub layout: Vec<u8>,
    pub data: Vec<u8>,
}

/// Lays columns out flat (see [`FlatColumns`]).
pub fn flatten(columns: Vec<WireColumn>) -> Result<FlatColumns> {
    let mut flat = FlatColumns { data_types: Vec::with_capacity(columns.len()), layout: Vec::new(), data: Vec::new() };
    let push = |layout: &mut Vec<u8>, word: u32| layout.extend_from_slice(&word.to_le_bytes());
    let place = |flat: &mut FlatColumns, bytes: &[u8]| -> Result<()> {
        flat.data.resize(flat.data.len().next_multiple_of(16), 0);
        push(&mut flat.layout, to_u32(flat.data.len(), "a batch of bytes")?);
        push(&mut flat.layout, to_u32(bytes.len(), "a buffer of bytes")?);
        flat.data.extend_from_slice(bytes);
        Ok(())
    };
    for column in columns {
        push(&mut flat.layout, to_u32(column.nodes.len(), "a column's node count")?);
        for node in &column.nodes {
            push(&mut flat.layout, node.length);
            push(&mut flat.layout, node.null_count);
            push(&mut flat.layout, to_u32(node.buffers.len(), "a node's buffer count")?);
            if node.validity.is_empty() {
                push(&mut flat.layout, 0);
                push(&mut flat.layout, 0);
            } else {
                place(&mut flat, &node.validity)?;
            }
            for buffer in &node.buffers {
                place(&mut flat, buffer)?;
            }
        }
        flat.data_types.push(column.data_type);
    }
    to_u32(flat.data.len(), "a batch of bytes")?;
    Ok(flat)
}

/// Reads back one column laid out as in [`FlatColumns`] (a result from the sandbox: untrusted;
/// its spans are checked by [`decode`]).
pub fn unflatten(data_type: String, layout: &[u8], data: Vec<u8>) -> Result<PackedColumn> {
    if layout.len() % 4 != 0 {
        return Err(malformed(format!("a layout of {} bytes is not u32s", layout.len())));
    }
    let mut words = layout.chunks_exact(4).map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]));
    let mut next = || words.next().ok_or_else(|| malformed("the layout ends early".into()));
    let (mut nodes, mut buffers) = (Vec::new(), Vec::new());
    for _ in 0..next()? {
        let (length, null_count, buffer_count) = (next()?, next()?, next()?);
        let validity = Span { offset: next()?, length: next()? };
        let first_buffer = to_u32(buffers.len(), "a column's buffer count")?;
        for _ in 0..buffer_count {
            buffers.push(Span { offset: next()?, length: next()? });
        }
        nodes.push(PackedNode { length, null_count, validity, first_buffer, buffer_count });
    }
    if next().is_ok() {
        return Err(malformed("the layout goes on after its last node".into()));
    }
    Ok(PackedColumn { data_type, nodes, buffers, data })
}

fn has_offsets(data: &ArrayData) -> bool {
    data.offset() != 0 || data.nulls().is_some_and(|n| n.offset() != 0) || data.child_data().iter().any(has_offsets)
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

/// Decodes a column a UDF returned into an array of type `ty`, validating every span and
/// buffer: whatever comes back from the sandbox is untrusted. Every length is checked before
/// Arrow sees a buffer (Arrow's builders assert on short bitmaps and ragged offsets), and the
/// bytes the column's buffers reference, each span counted as often as it is used, may not
/// exceed its data blob: buffers that overlap could otherwise make a small result decode into
/// many times its size.
pub fn decode(ty: &DataType, column: PackedColumn) -> Result<ArrayRef> {
    let blob = column.data.len();
    let data = Buffer::from_vec(column.data);
    let mut nodes = column.nodes.iter();
    let mut budget = Budget { left: blob, blob };
    let data = build(ty, &mut nodes, &column.buffers, &data, &mut budget)?;
    if nodes.next().is_some() {
        return Err(Error::Invalid(format!("malformed result column: extra nodes after {ty}")));
    }
    Ok(make_array(data))
}

fn malformed(what: String) -> Error {
    Error::Invalid(format!("malformed result column: {what}"))
}

/// What is left of the bytes a result may reference (see [`decode`]).
struct Budget {
    left: usize,
    blob: usize,
}

impl Budget {
    fn spend(&mut self, bytes: usize) -> Result<()> {
        self.left = self.left.checked_sub(bytes).ok_or_else(|| {
            malformed(format!(
                "its buffers reference more bytes than its {}-byte data holds (overlapping buffers)",
                self.blob
            ))
        })?;
        Ok(())
    }
}

fn slice(data: &Buffer, span: Span) -> Result<Buffer> {
    let (offset, length) = (span.offset as usize, span.length as usize);
    if offset.checked_add(length).is_none_or(|end| end > data.len()) {
        return Err(malformed(format!("span {offset}+{length} is outside its {} bytes", data.len())));
    }
    Ok(data.slice_with_length(offset, length))
}

/// Whether the first buffer of `ty` holds `length + 1` offsets rather than `length` values.
fn has_offset_buffer(ty: &DataType) -> bool {
    matches!(
        ty,
        DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::List(_)
            | DataType::LargeList(_)
            | DataType::Map(..)
    )
}

/// `buffer` cut to the `needed` bytes a node of its type and length uses; an error when it is
/// shorter. An empty buffer stands for any buffer of a node without values.
fn exactly(buffer: Buffer, needed: Option<usize>, length: usize, what: &str, ty: &DataType) -> Result<Buffer> {
    match needed {
        None => Ok(buffer),
        Some(_) if length == 0 && buffer.is_empty() => Ok(buffer),
        Some(needed) if buffer.len() >= needed => Ok(buffer.slice_with_length(0, needed)),
        Some(needed) => Err(malformed(format!(
            "{what} of a {ty} node of {length} values has {} bytes, needs {needed}",
            buffer.len()
        ))),
    }
}

fn build<'a>(
    ty: &DataType,
    nodes: &mut impl Iterator<Item = &'a PackedNode>,
    spans: &[Span],
    data: &Buffer,
    budget: &mut Budget,
) -> Result<ArrayData> {
    let node = nodes.next().ok_or_else(|| malformed(format!("missing node for {ty}")))?;
    let children = match ty {
        DataType::List(field) | DataType::Map(field, _) => vec![build(field.data_type(), nodes, spans, data, budget)?],
        DataType::Struct(fields) => {
            fields.iter().map(|f| build(f.data_type(), nodes, spans, data, budget)).collect::<Result<Vec<_>>>()?
        }
        _ => Vec::new(),
    };
    let length = node.length as usize;
    let overflow = || malformed(format!("a {ty} node of {length} values is too large"));
    let nulls = if node.validity.length == 0 {
        None
    } else {
        budget.spend(node.validity.length as usize)?;
        let bitmap = slice(data, node.validity)?;
        Some(exactly(bitmap, Some(length.div_ceil(8)), length, "the validity bitmap", ty)?)
    };
    let first = node.first_buffer as usize;
    let own = first
        .checked_add(node.buffer_count as usize)
        .and_then(|end| spans.get(first..end))
        .ok_or_else(|| malformed(format!("buffers {first}+{} of {}", node.buffer_count, spans.len())))?;
    let layout = arrow::array::layout(ty);
    if own.len() != layout.buffers.len() {
        return Err(malformed(format!("a {ty} node has {} buffers, not {}", own.len(), layout.buffers.len())));
    }
    let mut buffers = Vec::with_capacity(own.len());
    for (i, (span, spec)) in own.iter().zip(&layout.buffers).enumerate() {
        budget.spend(span.length as usize)?;
        let needed = match spec {
            BufferSpec::FixedWidth { byte_width, .. } => {
                let count =
                    if i == 0 && has_offset_buffer(ty) { length.checked_add(1).ok_or_else(overflow)? } else { length };
                Some(count.checked_mul(*byte_width).ok_or_else(overflow)?)
            }
            BufferSpec::BitMap => Some(length.div_ceil(8)),
            BufferSpec::VariableWidth => None,
            BufferSpec::AlwaysNull => Some(0),
        };
        buffers.push(exactly(slice(data, *span)?, needed, length, &format!("buffer {i}"), ty)?);
    }
    ArrayData::builder(ty.clone())
        .len(length)
        .null_bit_buffer(nulls)
        .buffers(buffers)
        .child_data(children)
        .align_buffers(true)
        .build()
        .map_err(|e| malformed(format!("of type {ty}: {e}")))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, ListArray, StringArray};

    use crate::wire::PackedNode;
    use arrow::datatypes::Int64Type;

    use super::*;
    use crate::types::arrow_type;

    /// Through the sandbox's layout and back, as a result column would come.
    fn through_flat(data_type: &str, array: &dyn Array) -> Result<PackedColumn> {
        let flat = flatten(vec![encode(data_type, array)?])?;
        unflatten(flat.data_types[0].clone(), &flat.layout, flat.data)
    }

    #[test]
    fn flat_layout_round_trips() {
        let strings: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), None, Some("ccc")]));
        let back = decode(&DataType::Utf8, through_flat("STRING", &strings).unwrap()).unwrap();
        assert_eq!(back.as_ref(), strings.as_ref());
        let ty = arrow_type("ARRAY<BIGINT>").unwrap();
        let lists: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Int64Type, _, _>(vec![
            Some(vec![Some(1), None]),
            None,
            Some(vec![]),
        ]));
        let back = decode(&ty, through_flat("ARRAY<BIGINT>", &lists).unwrap()).unwrap();
        assert_eq!(back.as_ref(), lists.as_ref());

        // Two columns: each buffer 16-byte aligned, the second column's after the first's.
        let ints: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 3]));
        let flat = flatten(vec![encode("BIGINT", &ints).unwrap(), encode("STRING", &strings).unwrap()]).unwrap();
        assert_eq!(flat.data_types, ["BIGINT", "STRING"]);
        let words: Vec<u32> =
            flat.layout.chunks_exact(4).map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]])).collect();
        assert_eq!(&words[..8], &[1, 3, 0, 1, 0, 0, 0, 24]);
        assert_eq!(&words[8..14], &[1, 3, 1, 2, 32, 1]);
        assert_eq!(&words[14..], &[48, 16, 64, 4]);
    }

    #[test]
    fn malformed_flat_layouts_are_errors() {
        let ints: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 3]));
        let flat = flatten(vec![encode("BIGINT", &ints).unwrap()]).unwrap();
        let mut longer = flat.layout.clone();
        longer.extend_from_slice(&7u32.to_le_bytes());
        let huge_count = [u32::MAX.to_le_bytes(), 1u32.to_le_bytes()].concat();
        for layout in [&flat.layout[..flat.layout.len() - 4], &flat.layout[..3], &longer[..], &huge_count[..], &[]] {
            let error = unflatten("BIGINT".into(), layout, flat.data.clone()).unwrap_err();
            assert!(error.to_string().contains("malformed result column"), "{error}");
        }
        // A span past the data is caught when the column is decoded.
        let mut words = flat.layout.clone();
        words[24..28].copy_from_slice(&1000u32.to_le_bytes());
        let packed = unflatten("BIGINT".into(), &words, flat.data).unwrap();
        assert!(decode(&DataType::Int64, packed).is_err());
    }

    #[test]
    fn round_trips_sliced_arrays() {
        let strings: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), None, Some("ccc"), Some("")]));
        let sliced = strings.slice(1, 3);
        let back = decode(&DataType::Utf8, pack(encode("STRING", &sliced).unwrap())).unwrap();
        assert_eq!(back.as_ref(), sliced.as_ref());

        let lists: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Int64Type, _, _>(vec![
            Some(vec![Some(1), None]),
            None,
            Some(vec![]),
            Some(vec![Some(4)]),
        ]));
        let ty = arrow_type("ARRAY<BIGINT>").unwrap();
        let sliced = lists.slice(1, 3);
        let back = decode(&ty, pack(encode("ARRAY<BIGINT>", &sliced).unwrap())).unwrap();
        assert_eq!(back.as_ref(), sliced.as_ref());
    }

    fn error_of(ty: &DataType, packed: PackedColumn) -> String {
        decode(ty, packed).unwrap_err().to_string()
    }

    #[test]
    fn short_bitmaps_and_ragged_offsets_are_errors() {
        // A list's 100 elements with a 1-byte validity bitmap (Arrow's builder asserts on it).
        let ty = arrow_type("ARRAY<BIGINT>").unwrap();
        let offsets = [0i32, 100].iter().flat_map(|o| o.to_le_bytes()).collect();
        let list = WireNode { length: 1, null_count: 0, validity: vec![], buffers: vec![offsets] };
        let items = WireNode { length: 100, null_count: 1, validity: vec![1], buffers: vec![vec![0; 800]] };
        let column = WireColumn { data_type: "ARRAY<BIGINT>".into(), nodes: vec![list, items] };
        assert!(error_of(&ty, pack(column))
            .contains("the validity bitmap of a Int64 node of 100 values has 1 bytes, needs 13"));

        // Offsets of 5 bytes for one string (Arrow asserts on a ragged buffer).
        let node =
            WireNode { length: 1, null_count: 0, validity: vec![], buffers: vec![vec![0, 0, 0, 0, 2], b"ab".to_vec()] };
        let column = WireColumn { data_type: "STRING".into(), nodes: vec![node] };
        assert!(error_of(&DataType::Utf8, pack(column))
            .contains("buffer 0 of a Utf8 node of 1 values has 5 bytes, needs 8"));

        // A buffer too few for the type; a longer buffer is cut to what the node uses.
        let node = WireNode { length: 1, null_count: 0, validity: vec![], buffers: vec![] };
        let column = WireColumn { data_type: "BIGINT".into(), nodes: vec![node] };
        assert!(error_of(&DataType::Int64, pack(column)).contains("has 0 buffers, not 1"));
        let node = WireNode { length: 1, null_count: 0, validity: vec![], buffers: vec![vec![7; 12]] };
        let column = WireColumn { data_type: "INT".into(), nodes: vec![node] };
        let ints = decode(&DataType::Int32, pack(column)).unwrap();
        assert_eq!(ints.to_data().buffers()[0].len(), 4);

        // An empty offsets buffer stands for none, in a column of no rows.
        let node = WireNode { length: 0, null_count: 0, validity: vec![], buffers: vec![vec![], vec![]] };
        let column = WireColumn { data_type: "STRING".into(), nodes: vec![node] };
        assert_eq!(decode(&DataType::Utf8, pack(column)).unwrap().len(), 0);
    }

    #[test]
    fn overlapping_buffers_are_errors() {
        // Three string fields of a ROW whose buffers are the same two spans.
        let ty = arrow_type("ROW<a STRING, b STRING, c STRING>").unwrap();
        let strings = StringArray::from(vec!["x".repeat(1000)]);
        let mut packed = pack(encode("STRING", &strings).unwrap());
        let string_node = packed.nodes[0];
        packed.nodes = vec![
            PackedNode {
                length: 1,
                null_count: 0,
                validity: Span { offset: 0, length: 0 },
                first_buffer: 0,
                buffer_count: 0,
            },
            string_node,
            string_node,
            string_node,
        ];
        let error = error_of(&ty, packed.clone());
        assert!(error.contains("reference more bytes than its 1016-byte data holds"), "{error}");
        // One field referencing them is fine.
        let one = arrow_type("ROW<a STRING>").unwrap();
        packed.nodes.truncate(2);
        assert_eq!(decode(&one, packed).unwrap().len(), 1);
    }

    #[test]
    fn rejects_malformed_columns() {
        let ints = Int64Array::from(vec![1, 2, 3]);
        let mut column = encode("BIGINT", &ints).unwrap();
        column.nodes[0].buffers[0].truncate(8);
        assert!(decode(&DataType::Int64, pack(column)).is_err());

        let strings = StringArray::from(vec!["ab"]);
        let mut column = encode("STRING", &strings).unwrap();
        column.nodes[0].buffers[1] = vec![0xff, 0xfe];
        assert!(decode(&DataType::Utf8, pack(column)).is_err());

        let column = WireColumn { data_type: "BIGINT".into(), nodes: vec![] };
        assert!(decode(&DataType::Int64, pack(column)).is_err());

        let mut packed = pack(encode("BIGINT", &ints).unwrap());
        packed.buffers[0].offset = u32::MAX - 4;
        assert!(decode(&DataType::Int64, packed.clone()).is_err());
        packed.nodes[0].first_buffer = 7;
        assert!(decode(&DataType::Int64, packed).is_err());
    }
}
