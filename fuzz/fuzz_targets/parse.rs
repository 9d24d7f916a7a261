//! The parser on any text: a spec or an error with a span, never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(e) = symconv::syntax::parse(text) {
            assert!(e.span.start <= e.span.end && e.span.end <= text.len(), "a span outside the text");
        }
    }
});
