//! PromQL text as a request brings it: parsing under the default syntax limits (depth, length)
//! must answer an expression or an error, never panic or overflow the stack.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidemark_query::{QueryLimits, syntax};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = syntax::parse(text, &QueryLimits::default().syntax());
});
