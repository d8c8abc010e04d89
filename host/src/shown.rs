//! Text from a sandbox (exception messages, printed output, names) as the host shows it: control
//! characters escaped, so a UDF cannot move the user's cursor, retitle a terminal, ring its bell
//! or hide text behind a carriage return; and printed output bounded after the host's own
//! expansion (one prefixed log line per line of output).

use std::borrow::Cow;
use std::fmt::Write;

/// Lines of one call's printed output the host forwards to its log; the rest are counted in one
/// closing line.
pub const MAX_LOG_LINES_PER_CALL: usize = 1_000;
/// Bytes of one call's forwarded log lines, prefixes and escapes included.
pub const MAX_LOG_BYTES_PER_CALL: usize = 128 << 10;

/// Whether `c` is shown escaped: C0 and C1 control characters and DEL (except line feed and tab
/// where text may span lines), and the Unicode bidirectional controls, which reorder what a
/// terminal shows.
fn escaped(c: char, keep_newlines: bool) -> bool {
    match c {
        '\n' | '\t' => !keep_newlines,
        '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => true,
        c => c.is_control(),
    }
}

fn escape(text: &str, keep_newlines: bool) -> Cow<'_, str> {
    if !text.chars().any(|c| escaped(c, keep_newlines)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if escaped(c, keep_newlines) {
            // `\r`, `\u{1b}`: Rust's escapes, unambiguous and inert on any terminal.
            let _ = write!(out, "{}", c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `text` with every control character escaped but line feeds and tabs: for messages and
/// tracebacks, which span lines.
pub fn text(text: &str) -> Cow<'_, str> {
    escape(text, true)
}

/// `text` on one line: every control character escaped, line feeds and tabs too.
pub fn line(text: &str) -> Cow<'_, str> {
    escape(text, false)
}

/// The log lines a call's printed `output` becomes, each `prefix` followed by one escaped line
/// of it: at most [`MAX_LOG_LINES_PER_CALL`] lines and [`MAX_LOG_BYTES_PER_CALL`] bytes, then one
/// line saying how many lines and bytes of output were left out.
pub fn log_lines(prefix: &str, output: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut bytes = 0;
    let mut rest = output.lines();
    for raw in rest.by_ref() {
        let shown = format!("{prefix}{}", line(raw));
        if lines.len() == MAX_LOG_LINES_PER_CALL || bytes + shown.len() > MAX_LOG_BYTES_PER_CALL {
            // `raw` is a slice of `output`: what is dropped runs from its start to the end.
            let size = output.len() - (raw.as_ptr() as usize - output.as_ptr() as usize);
            let count = 1 + rest.count();
            lines.push(format!("{prefix}[udfbox: {count} more lines ({size} bytes) of output dropped]"));
            break;
        }
        bytes += shown.len();
        lines.push(shown);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(text("plain\ttext\nline two"), "plain\ttext\nline two");
        assert!(matches!(text("plain"), Cow::Borrowed(_)));
        assert_eq!(text("a\u{1b}]0;title\u{7}b\rc"), "a\\u{1b}]0;title\\u{7}b\\rc");
        assert_eq!(line("a\nb\tc\u{9b}d\u{7f}"), "a\\nb\\tc\\u{9b}d\\u{7f}");
        assert_eq!(line("x\u{202e}y\u{2066}"), "x\\u{202e}y\\u{2066}");
        assert_eq!(line("é ü 漢"), "é ü 漢");
    }

    #[test]
    fn printed_output_is_bounded_after_prefixing() {
        let few = log_lines("[udf f] ", "one\n\u{1b}[2J\ntwo");
        assert_eq!(few, ["[udf f] one", "[udf f] \\u{1b}[2J", "[udf f] two"]);

        // 250,000 empty lines: the line cap, then one line counting the rest.
        let newlines = "\n".repeat(250_000);
        let lines = log_lines("[udf tenant/f] ", &newlines);
        assert_eq!(lines.len(), MAX_LOG_LINES_PER_CALL + 1);
        assert_eq!(
            lines.last().unwrap(),
            "[udf tenant/f] [udfbox: 249000 more lines (249000 bytes) of output dropped]"
        );

        // Few long lines: the byte cap, escapes counted.
        let long = format!("{}\n", "\u{1b}".repeat(10_000)).repeat(100);
        let lines = log_lines("[udf f] ", &long);
        let total: usize = lines.iter().map(String::len).sum();
        assert!(total <= MAX_LOG_BYTES_PER_CALL + 100, "{total}");
        assert!(lines.last().unwrap().contains("more lines"), "{:?}", lines.last());
    }
}
