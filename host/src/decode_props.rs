//! Property tests of everything the host decodes from a sandbox: type strings, result layouts
//! and data, error records and printed output. Random well-formed columns of random nested
//! types round-trip; then layouts, data and type strings are mutated, and decoding must return
//! (an error or an array) without panicking, allocating at most a small multiple of its input
//! and materialising no more bytes than the result's data holds. Case counts are fixed, so the
//! run is bounded (`UDFBOX_FUZZ_CASES=N` runs more).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use arrow::array::{make_array, Array, ArrayData};
use arrow::buffer::Buffer;
use arrow::datatypes::{DataType, Field};
use proptest::prelude::*;

use crate::error::{UdfError, UdfErrorKind};
use crate::types::{arrow_field, arrow_type, check_values};
use crate::wire::{decode, encode, pack, unflatten, PackedColumn};

/// Counts the bytes each thread allocates, so a property can bound what decoding allocates.
struct Counting;

thread_local! {
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATED.try_with(|a| a.set(a.get().saturating_add(layout.size())));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATED.try_with(|a| a.set(a.get().saturating_add(new_size)));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// Bytes allocated on this thread while `f` runs, and its result.
fn allocated_by<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let before = ALLOCATED.with(Cell::get);
    let result = f();
    (ALLOCATED.with(Cell::get) - before, result)
}

/// A small deterministic generator driven by a proptest seed (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// A random udfbox type string, nested up to `depth` more levels.
fn random_type(rng: &mut Rng, depth: usize) -> String {
    const LEAVES: &[&str] = &[
        "BOOLEAN",
        "TINYINT",
        "SMALLINT",
        "INT",
        "BIGINT",
        "UBIGINT",
        "FLOAT",
        "DOUBLE",
        "STRING",
        "BYTES",
        "LARGE_STRING",
        "DATE",
        "TIME",
        "TIMESTAMP",
        "INTERVAL",
        "DECIMAL(5, 2)",
        "DECIMAL(38, 10)",
        "JSON",
    ];
    let not_null = if rng.below(4) == 0 { " NOT NULL" } else { "" };
    let text = match if depth == 0 { 0 } else { rng.below(5) } {
        0 | 1 => LEAVES[rng.below(LEAVES.len())].to_string(),
        2 => format!("ARRAY<{}>", random_type(rng, depth - 1)),
        3 => format!("MAP<{}, {}>", LEAVES[rng.below(9)], random_type(rng, depth - 1)),
        _ => {
            let fields: Vec<String> =
                (0..1 + rng.below(3)).map(|i| format!("`f{i}` {}", random_type(rng, depth - 1))).collect();
            format!("ROW<{}>", fields.join(", "))
        }
    };
    format!("{text}{not_null}")
}

/// A random valid array of `ty` with `len` values (NULLs only where `nullable`).
fn random_data(rng: &mut Rng, ty: &DataType, len: usize, nullable: bool) -> ArrayData {
    let nulls = (nullable && rng.below(2) == 0).then(|| Buffer::from_vec(rng.bytes(len.div_ceil(8))));
    let offsets = |rng: &mut Rng| {
        let mut offsets = vec![0i32];
        for _ in 0..len {
            offsets.push(offsets.last().unwrap() + rng.below(4) as i32);
        }
        offsets
    };
    let builder = ArrayData::builder(ty.clone()).len(len).null_bit_buffer(nulls);
    let builder = match ty {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Binary => {
            let offsets = offsets(rng);
            let text: String = (0..*offsets.last().unwrap()).map(|i| if i % 3 == 0 { 'é' } else { 'a' }).collect();
            let values = text.into_bytes();
            let ends: Vec<usize> = offsets.iter().map(|&o| text_end(&values, o as usize)).collect();
            let offsets = if *ty == DataType::LargeUtf8 {
                Buffer::from_vec(ends.iter().map(|&e| e as i64).collect::<Vec<_>>())
            } else {
                Buffer::from_vec(ends.iter().map(|&e| e as i32).collect::<Vec<_>>())
            };
            builder.buffers(vec![offsets, Buffer::from_vec(values)])
        }
        DataType::List(item) | DataType::Map(item, _) => {
            let offsets = offsets(rng);
            let child = random_data(rng, item.data_type(), *offsets.last().unwrap() as usize, item.is_nullable());
            builder.buffers(vec![Buffer::from_vec(offsets)]).child_data(vec![child])
        }
        DataType::Struct(fields) => {
            builder.child_data(fields.iter().map(|f| random_data(rng, f.data_type(), len, f.is_nullable())).collect())
        }
        DataType::Boolean => builder.buffers(vec![Buffer::from_vec(rng.bytes(len.div_ceil(8)))]),
        other => {
            let width = other.primitive_width().expect("a fixed-width type");
            builder.buffers(vec![Buffer::from_vec(rng.bytes(len * width))])
        }
    };
    builder.align_buffers(true).build().expect("a well-formed random array")
}

/// The byte offset of the `chars`-th character boundary at or after byte `at` in UTF-8 `text`.
fn text_end(text: &[u8], at: usize) -> usize {
    let mut end = at.min(text.len());
    while end < text.len() && (text[end] & 0xc0) == 0x80 {
        end += 1;
    }
    end
}

/// A well-formed result column of a random type, as the guest would pack it.
fn random_column(seed: u64) -> (String, Field, PackedColumn) {
    let mut rng = Rng(seed | 1);
    let text = random_type(&mut rng, 3);
    let field = arrow_field(&text).expect("random types parse");
    let len = rng.below(20);
    let array = make_array(random_data(&mut rng, field.data_type(), len, field.is_nullable()));
    let column = pack(encode(&text, array.as_ref()).expect("encodes"));
    (text, field, column)
}

/// Bytes the buffers of `data` hold, children included.
fn materialised(data: &ArrayData) -> usize {
    data.buffers().iter().map(Buffer::len).sum::<usize>()
        + data.nulls().map_or(0, |n| n.buffer().len())
        + data.child_data().iter().map(materialised).sum::<usize>()
}

/// Decodes an untrusted column as `field`'s type, then checks its values as a result of that
/// field: no panic, bounded allocation, bounded decoded size.
fn decode_untrusted(field: &Field, column: PackedColumn) -> Result<(), TestCaseError> {
    let ty = field.data_type();
    let input = column.data.len() + column.nodes.len() * 24 + column.buffers.len() * 8;
    let (allocated, decoded) = allocated_by(|| decode(ty, column));
    // Arrow copies a misaligned buffer once; the rest is bookkeeping per node.
    prop_assert!(allocated <= 2 * input + (64 << 10), "decoding allocated {allocated} bytes for {input}");
    if let Ok(array) = decoded {
        prop_assert!(materialised(&array.to_data()) <= input, "decoded more than its input");
        let _ = check_values(field, array.as_ref());
    }
    Ok(())
}

/// Cases per property: 512 in CI (a few seconds each); `UDFBOX_FUZZ_CASES=N` for a longer run.
fn cases() -> u32 {
    std::env::var("UDFBOX_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(512)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn well_formed_columns_round_trip(seed in any::<u64>()) {
        let (_, field, column) = random_column(seed);
        let ty = field.data_type();
        let array = decode(ty, column.clone()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let again = decode(ty, pack(encode("", array.as_ref()).unwrap())).unwrap();
        prop_assert_eq!(array.as_ref(), again.as_ref());
        decode_untrusted(&field, column)?;
    }

    #[test]
    fn mutated_layouts_and_data_never_panic(seed in any::<u64>(), edits in 1usize..6) {
        let (text, field, column) = random_column(seed);
        let mut rng = Rng(seed.rotate_left(17) | 1);
        // Through the flat layout, as the sandbox sends it, with words and bytes changed.
        let mut layout = layout_of(&column);
        let mut data = column.data.clone();
        for _ in 0..edits {
            match rng.below(6) {
                0 if layout.len() >= 4 => {
                    let at = rng.below(layout.len() / 4) * 4;
                    let word = [0, 1, 2, 7, 8, 15, 16, 17, u32::MAX, u32::MAX - 3, rng.next() as u32][rng.below(11)];
                    layout[at..at + 4].copy_from_slice(&word.to_le_bytes());
                }
                1 if layout.len() >= 4 => {
                    let at = rng.below(layout.len() / 4) * 4;
                    let word = u32::from_le_bytes(layout[at..at + 4].try_into().unwrap());
                    let word = if rng.below(2) == 0 { word.wrapping_add(1) } else { word.wrapping_sub(1) };
                    layout[at..at + 4].copy_from_slice(&word.to_le_bytes());
                }
                2 if !data.is_empty() => {
                    let at = rng.below(data.len());
                    data[at] = rng.next() as u8;
                }
                3 => data.truncate(rng.below(data.len() + 1)),
                4 => layout.truncate(rng.below(layout.len() + 1)),
                _ => {
                    let extra = rng.below(40);
                    data.extend(rng.bytes(extra));
                }
            }
        }
        if let Ok(packed) = unflatten(text, &layout, data) {
            decode_untrusted(&field, packed)?;
        }
    }

    #[test]
    fn columns_decoded_as_another_type_never_panic(seed in any::<u64>(), other in any::<u64>()) {
        let (_, _, column) = random_column(seed);
        let (_, field, _) = random_column(other);
        decode_untrusted(&field, column)?;
    }

    #[test]
    fn overlapping_spans_never_amplify(seed in any::<u64>()) {
        let (_, field, mut column) = random_column(seed);
        let widest = column.buffers.iter().copied().max_by_key(|s| s.length);
        if let Some(widest) = widest.filter(|s| s.length > 0) {
            // Every buffer and bitmap points at the widest span: more bytes than the data holds
            // whenever two or more of them are used.
            for span in &mut column.buffers {
                *span = widest;
            }
            decode_untrusted(&field, column)?;
        }
    }

    #[test]
    fn type_strings_never_panic(text in "\\PC{0,40}", seed in any::<u64>()) {
        let _ = arrow_field(&text);
        // Valid type strings with text inserted or cut at any character boundary.
        let mut rng = Rng(seed | 1);
        let valid = random_type(&mut rng, 3);
        let chars: Vec<char> = valid.chars().collect();
        let at = rng.below(chars.len() + 1);
        let spliced: String = chars[..at].iter().chain(text.chars().take(3).collect::<Vec<_>>().iter()).chain(&chars[at..]).collect();
        let _ = arrow_field(&spliced);
        let cut: String = chars[..at].iter().collect();
        let _ = arrow_type(&cut);
        for suffix in [" NOT NULL", " NOTé", " é NOT NULL", " N\u{10ffff}", " NOT\u{0}NULL"] {
            let _ = arrow_field(&format!("{valid}{suffix}"));
        }
    }

    #[test]
    fn error_records_show_no_control_characters(
        message in "\\PC{0,30}|[\\x00-\\x1f\\x7f\\u{80}-\\u{9f}\\u{202e}a]{0,30}",
        exception_type in "[\\x00-\\x7f\\u{9b}]{0,12}",
        function in "[\\x00-\\x7f]{0,12}",
        row in proptest::option::of(any::<u32>()),
        kind in 0usize..5,
    ) {
        let kinds = [UdfErrorKind::Syntax, UdfErrorKind::Load, UdfErrorKind::Exception, UdfErrorKind::BadResult, UdfErrorKind::BadRequest];
        let error = UdfError {
            kind: kinds[kind],
            function: Some(function),
            row,
            exception_type,
            message: message.clone(),
            traceback: message,
        };
        let shown = crate::Error::Udf(error).to_string();
        prop_assert!(!shown.chars().any(|c| c.is_control() && c != '\n' && c != '\t'), "{:?}", shown);
    }

    #[test]
    fn printed_output_is_bounded(output in "[a\\n\\r\\x1b\u{e9}]{0,3000}", repeat in 1usize..200) {
        let output = output.repeat(repeat);
        let lines = crate::shown::log_lines("[udf t/f] ", &output);
        let bytes: usize = lines.iter().map(String::len).sum();
        prop_assert!(lines.len() <= crate::shown::MAX_LOG_LINES_PER_CALL + 1);
        // The cap, plus the closing line that counts what was dropped.
        prop_assert!(bytes <= crate::shown::MAX_LOG_BYTES_PER_CALL + 100, "{}", bytes);
        prop_assert!(lines.iter().all(|l| !l.chars().any(char::is_control)));
    }
}

/// The flat layout of one packed column, as the sandbox writes it (see [`crate::wire::FlatColumns`]).
fn layout_of(column: &PackedColumn) -> Vec<u8> {
    let mut words = vec![column.nodes.len() as u32];
    for node in &column.nodes {
        words.extend([node.length, node.null_count, node.buffer_count, node.validity.offset, node.validity.length]);
        for span in &column.buffers[node.first_buffer as usize..(node.first_buffer + node.buffer_count) as usize] {
            words.extend([span.offset, span.length]);
        }
    }
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

#[test]
fn the_generator_covers_nested_types() {
    let types: Vec<String> = (1..200u64).map(|seed| random_column(seed).0).collect();
    for kind in ["ARRAY<", "MAP<", "ROW<", "NOT NULL", "DECIMAL", "STRING"] {
        assert!(types.iter().any(|t| t.contains(kind)), "no {kind} among {types:?}");
    }
}
