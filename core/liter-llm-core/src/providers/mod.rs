//! One module per provider adapter.

pub mod anthropic;
pub mod cohere;
pub mod mock;
pub mod openai;
