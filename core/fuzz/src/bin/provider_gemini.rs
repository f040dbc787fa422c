#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| liter_llm_fuzz::provider("gemini", data));
