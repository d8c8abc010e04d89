//! The sandbox's standard output, which carries its results.
//!
//! componentize-py 0.25 copies every `list<u8>` it lowers from Python into memory it never frees,
//! so a result returned as a list stays behind in the sandbox (measured: exactly the data blob's
//! size per call). The guest runtime therefore returns small results as text and writes larger
//! data to WASI stdout, which its libc lowers straight from the Python object's buffer, returning
//! only its length; the
//! host collects the bytes here and takes them back by length when the call returns
//! ([`ResultStream::take_results`]). Whatever else reached stdout (a UDF's C-level writes) is the
//! text before them.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

use crate::error::Result;

/// Everything the guest wrote to stdout since the host last took it, up to `capacity` bytes; a
/// write beyond that traps the sandbox.
#[derive(Clone)]
pub struct ResultStream {
    buffer: Arc<Mutex<BytesMut>>,
    capacity: usize,
}

impl ResultStream {
    /// `capacity`: the most a sandbox may write between two takes. Results cannot outgrow the
    /// sandbox's memory, so its memory limit is the natural bound.
    pub fn new(capacity: usize) -> Self {
        Self { buffer: Arc::new(Mutex::new(BytesMut::new())), capacity }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BytesMut> {
        self.buffer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes everything written since the last take.
    pub fn take_all(&self) -> Bytes {
        self.lock().split().freeze()
    }

    /// After a call that declared `declared` bytes of results: takes what was written and splits
    /// it into the text written before the results and the results themselves, which are the
    /// last `declared` bytes. The guest's word is checked, not trusted.
    pub fn take_results(&self, declared: u64, function: &str) -> Result<(Bytes, Bytes)> {
        let mut written = self.take_all();
        match usize::try_from(declared).ok().filter(|&d| d <= written.len()) {
            Some(declared) => {
                let results = written.split_off(written.len() - declared);
                Ok((written, results))
            }
            None => Err(super::bad_result(
                function,
                format!(
                    "the sandbox declared {declared} bytes of results but wrote {} to its result stream",
                    written.len()
                ),
            )),
        }
    }

    fn room(&self, buffer: &BytesMut) -> usize {
        self.capacity.saturating_sub(buffer.len())
    }
}

fn overflow(capacity: usize) -> StreamError {
    StreamError::Trap(wasmtime::format_err!("the UDF wrote more than {capacity} bytes to standard output in one call"))
}

impl OutputStream for ResultStream {
    fn write(&mut self, bytes: Bytes) -> std::result::Result<(), StreamError> {
        let mut buffer = self.lock();
        if bytes.len() > self.room(&buffer) {
            return Err(overflow(self.capacity));
        }
        buffer.extend_from_slice(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> std::result::Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> std::result::Result<usize, StreamError> {
        let buffer = self.lock();
        match self.room(&buffer) {
            0 => Err(overflow(self.capacity)),
            room => Ok(room),
        }
    }
}

#[async_trait::async_trait]
impl Pollable for ResultStream {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for ResultStream {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let mut buffer = self.lock();
        if self.room(&buffer) == 0 && !buf.is_empty() {
            return Poll::Ready(Err(std::io::Error::other(overflow(self.capacity).to_string())));
        }
        let amount = buf.len().min(self.room(&buffer));
        buffer.extend_from_slice(&buf[..amount]);
        Poll::Ready(Ok(amount))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for ResultStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for ResultStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_the_last_declared_bytes_and_the_rest_is_text() {
        let mut stream = ResultStream::new(64);
        stream.write(Bytes::from_static(b"hello\n")).unwrap();
        stream.write(Bytes::from_static(b"\x01\x02\x03")).unwrap();
        let (text, results) = stream.take_results(3, "f").unwrap();
        assert_eq!((&text[..], &results[..]), (&b"hello\n"[..], &b"\x01\x02\x03"[..]));
        assert!(stream.take_all().is_empty(), "a take empties the stream");
    }

    #[test]
    fn a_declared_length_beyond_what_was_written_is_a_bad_result() {
        let mut stream = ResultStream::new(64);
        stream.write(Bytes::from_static(b"abc")).unwrap();
        let error = stream.take_results(u64::MAX, "f").unwrap_err().to_string();
        assert!(error.contains("declared 18446744073709551615 bytes of results but wrote 3"), "{error}");
    }

    #[test]
    fn writing_beyond_the_capacity_traps() {
        let mut stream = ResultStream::new(4);
        assert_eq!(stream.check_write().unwrap(), 4);
        assert!(matches!(stream.write(Bytes::from_static(b"12345")), Err(StreamError::Trap(_))));
        stream.write(Bytes::from_static(b"1234")).unwrap();
        assert!(matches!(stream.check_write(), Err(StreamError::Trap(_))));
    }
}
