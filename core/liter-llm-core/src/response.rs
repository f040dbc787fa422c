//! The one response model: an OpenAI `chat.completion`.

use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct ChatCompletion {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub model: String,
    pub choices: Vec<Choice>,
    pub usage: Option<Usage>,
}

#[derive(Debug, Serialize)]
pub struct Choice {
    pub index: u32,
    pub message: AssistantMessage,
    pub finish_reason: Option<&'static str>,
    pub logprobs: Option<()>,
}

#[derive(Debug, Serialize)]
pub struct AssistantMessage {
    pub role: &'static str,
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallOut>>,
    /// The model's reasoning text, where the provider returns it (Anthropic's and Cohere's
    /// thinking).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ToolCallOut {
    pub id: String,
    #[serde(rename = "type")]
    pub call_type: &'static str,
    pub function: FunctionOut,
}

#[derive(Debug, Serialize)]
pub struct FunctionOut {
    pub name: String,
    pub arguments: String,
}

#[derive(Debug, Serialize, Default, PartialEq)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    /// Prompt tokens written to the provider's prompt cache (Anthropic's name, as LiteLLM
    /// reports it); counted in `prompt_tokens`, priced as cache writes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<u64>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct PromptTokensDetails {
    pub cached_tokens: u64,
}

impl Usage {
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Usage {
        Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens.saturating_add(completion_tokens),
            prompt_tokens_details: None,
            cache_creation_input_tokens: None,
        }
    }
}

impl ChatCompletion {
    /// A completion with one choice, created now.
    pub fn single(
        id: String,
        model: String,
        content: Option<String>,
        tool_calls: Vec<ToolCallOut>,
        finish_reason: &'static str,
        usage: Option<Usage>,
    ) -> ChatCompletion {
        ChatCompletion {
            id,
            object: "chat.completion",
            created: unix_now(),
            model,
            choices: vec![Choice {
                index: 0,
                message: AssistantMessage {
                    role: "assistant",
                    content,
                    tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
                    reasoning_content: None,
                },
                finish_reason: Some(finish_reason),
                logprobs: None,
            }],
            usage,
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a ChatCompletion always serialises")
    }
}

pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}
/// Adds a member at the end of a JSON object's text (left as it is when it is not an object).
pub(crate) fn insert_member(body: Vec<u8>, name: &str, value: &serde_json::Value) -> Vec<u8> {
    insert_raw_member(body, name, value.to_string().as_bytes())
}

/// `insert_member` with the value already written as JSON text.
pub(crate) fn insert_raw_member(body: Vec<u8>, name: &str, value: &[u8]) -> Vec<u8> {
    insert_member_with(body, name, value.len(), |out| out.extend_from_slice(value))
}

/// `insert_raw_member` with the value written by `write` (about `reserve` bytes) in place, at
/// the end of the body, then moved before the object's closing brace and what follows it.
pub(crate) fn insert_member_with(
    mut body: Vec<u8>,
    name: &str,
    reserve: usize,
    write: impl FnOnce(&mut Vec<u8>),
) -> Vec<u8> {
    let Some(close) = body.iter().rposition(|b| *b == b'}') else {
        return body;
    };
    let is_empty_object = body[..close].iter().rev().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    let tail = body.len() - close;
    body.reserve(name.len() + reserve + 4);
    if !is_empty_object {
        body.push(b',');
    }
    // Infallible: writing a string to a Vec.
    let _ = serde_json::to_writer(&mut body, name);
    body.push(b':');
    write(&mut body);
    body[close..].rotate_left(tail);
    body
}

/// The token counts of an OpenAI-shaped `usage` that pricing, rate limits and telemetry read:
/// each `None` when absent, `null`, or not an unsigned integer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageCounts {
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub total_tokens: Option<u64>,
    /// `prompt_tokens_details.cached_tokens`.
    pub cached_tokens: Option<u64>,
    pub cache_creation_input_tokens: Option<u64>,
}

impl UsageCounts {
    /// The counts of a `usage` value, as `Value::as_u64` reads each (a `usage` that is not an
    /// object has none).
    pub fn of_value(usage: &serde_json::Value) -> UsageCounts {
        let count = |pointer: &str| usage.pointer(pointer).and_then(serde_json::Value::as_u64);
        UsageCounts {
            prompt_tokens: count("/prompt_tokens"),
            completion_tokens: count("/completion_tokens"),
            total_tokens: count("/total_tokens"),
            cached_tokens: count("/prompt_tokens_details/cached_tokens"),
            cache_creation_input_tokens: count("/cache_creation_input_tokens"),
        }
    }
}

/// One choice of an answer, as `Reply` reads it.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct ReplyChoice<'a> {
    pub(crate) finish_reason: Option<Cow<'a, str>>,
    /// `message` (`Some` when present, whatever its `content`), then `delta`.
    pub(crate) message: Option<Option<Cow<'a, str>>>,
    pub(crate) delta: Option<Option<Cow<'a, str>>>,
}

impl<'a> ReplyChoice<'a> {
    /// The choice's text: its message's, else its delta's.
    pub(crate) fn content(&self) -> Option<&str> {
        self.message.as_ref().or(self.delta.as_ref()).and_then(|c| c.as_deref())
    }
}

/// What the core reads of an OpenAI-shaped answer (a `chat.completion`, a chunk, an embedding
/// list), parsed once per answer and shared by its cost, the tokens that settle rate limits, and
/// the telemetry and audit facts. Strings borrow from the body where they have no escapes.
///
/// `parse` takes the typed path only for a body every reader agrees on: an object whose known
/// members have the types they are read as, each named once, and whose other members are valid
/// JSON as `serde_json::Value` reads it (escapes, depth, number range), all checked in the same
/// single pass. Anything else (a duplicated member, a count that is a string or a float, a
/// `usage` that is not an object, a body that is not an object) keeps the body as it is, and
/// each reader reads it as it always has: the answers are the same on both paths.
#[derive(Debug)]
pub(crate) enum Reply<'a> {
    Typed(TypedReply<'a>),
    /// A body of odd shape, read by each reader on its own.
    Odd(&'a [u8]),
}

#[derive(Debug, Default, PartialEq)]
pub(crate) struct TypedReply<'a> {
    pub(crate) id: Option<Cow<'a, str>>,
    pub(crate) model: Option<Cow<'a, str>>,
    pub(crate) choices: Vec<ReplyChoice<'a>>,
    /// Whether the body has a `choices` member (what makes it a chat completion).
    pub(crate) has_choices: bool,
    /// `None`: no `usage`, or `usage: null`.
    pub(crate) usage: Option<UsageCounts>,
}

impl<'a> Reply<'a> {
    pub(crate) fn parse(body: &'a [u8]) -> Reply<'a> {
        let starts_with_object = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        match starts_with_object.then(|| crate::json::from_bytes::<TypedReply<'a>>(body)) {
            Some(Ok(typed)) => Reply::Typed(typed),
            _ => Reply::Odd(body),
        }
    }

    /// The answer's `usage`, for its cost: `None` without one (or with `usage: null`, or when the
    /// body is not JSON).
    pub(crate) fn usage(&self) -> Option<UsageCounts> {
        match self {
            Reply::Typed(typed) => typed.usage,
            Reply::Odd(body) => serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v.get("usage").filter(|u| !u.is_null()).map(UsageCounts::of_value)),
        }
    }

    /// `usage.total_tokens`, for settling token budgets: `None` unless `usage` is an object with
    /// an unsigned `total_tokens` and the body is otherwise readable.
    pub(crate) fn total_tokens(&self) -> Option<u64> {
        match self {
            Reply::Typed(typed) => typed.usage.and_then(|u| u.total_tokens),
            Reply::Odd(body) => odd_total_tokens(body),
        }
    }
}

/// A whole answer's body as the provider returned it, with `usage` as `Reply` reads it when the
/// provider's check parsed the body as a typed completion (`Some`), so that nothing parses it
/// again; and then, when the call is observed, the facts its telemetry and audit read.
#[derive(Debug)]
pub struct Answer {
    pub body: Vec<u8>,
    pub usage: Option<Option<UsageCounts>>,
    /// `ResponseFacts::read_reply` of the check's parse, when the call is observed.
    pub(crate) facts: Option<ResponseFacts>,
}

impl Answer {
    /// An answer nothing has read yet.
    pub fn unread(body: Vec<u8>) -> Answer {
        Answer { body, usage: None, facts: None }
    }
}

/// Whether a call's telemetry or audit read its answer, and whether its text with it (content
/// capture): what the provider's check copies out of its parse for them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Observing {
    #[default]
    No,
    Yes {
        capture: bool,
    },
}

impl Observing {
    /// The facts the observers read of `reply`, when there are observers.
    pub(crate) fn facts(self, reply: &Reply<'_>) -> Option<ResponseFacts> {
        let Observing::Yes { capture } = self else { return None };
        let mut facts = ResponseFacts::default();
        facts.read_reply(reply, capture);
        Some(facts)
    }
}

/// What a call's telemetry and audit learnt from its response or its stream.
#[derive(Debug, Default, Clone)]
pub(crate) struct ResponseFacts {
    pub(crate) id: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) finish_reasons: Vec<String>,
    pub(crate) input_tokens: Option<u64>,
    pub(crate) output_tokens: Option<u64>,
    /// `choices[].message` or the streamed text, only when content capture is on.
    pub(crate) output_text: Option<String>,
}

impl ResponseFacts {
    /// `read` of an answer parsed once for all its readers.
    pub(crate) fn read_reply(&mut self, reply: &Reply<'_>, capture: bool) {
        let parsed = match reply {
            Reply::Odd(body) => return self.read(body, capture),
            Reply::Typed(parsed) => parsed,
        };
        if self.id.is_none() {
            self.id = parsed.id.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
        }
        if self.model.is_none() {
            self.model = parsed.model.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
        }
        for choice in &parsed.choices {
            if let Some(reason) = &choice.finish_reason {
                self.finish_reasons.push(reason.as_ref().to_owned());
            }
            if capture {
                if let Some(text) = choice.content() {
                    self.output_text.get_or_insert_with(String::new).push_str(text);
                }
            }
        }
        if let Some(usage) = &parsed.usage {
            self.input_tokens = usage.prompt_tokens.or(self.input_tokens);
            self.output_tokens = usage.completion_tokens.or(self.output_tokens);
        }
    }

    /// Adds facts read on their own (`read_reply` into empty facts) to the facts so far, as
    /// `read_reply` of the same answer would have.
    pub(crate) fn absorb(&mut self, other: ResponseFacts) {
        if self.id.is_none() {
            self.id = other.id;
        }
        if self.model.is_none() {
            self.model = other.model;
        }
        if self.finish_reasons.is_empty() {
            self.finish_reasons = other.finish_reasons;
        } else {
            self.finish_reasons.extend(other.finish_reasons);
        }
        if let Some(text) = other.output_text {
            match &mut self.output_text {
                Some(so_far) => so_far.push_str(&text),
                None => self.output_text = Some(text),
            }
        }
        self.input_tokens = other.input_tokens.or(self.input_tokens);
        self.output_tokens = other.output_tokens.or(self.output_tokens);
    }

    /// Reads an OpenAI-shaped response or stream chunk into the facts so far: the usage
    /// (Anthropic's cache tokens are already in `prompt_tokens`), the id, the model, the finish
    /// reasons.
    pub(crate) fn read(&mut self, body: &[u8], capture: bool) {
        #[derive(serde::Deserialize)]
        struct Body<'a> {
            #[serde(borrow, default)]
            id: Option<std::borrow::Cow<'a, str>>,
            #[serde(borrow, default)]
            model: Option<std::borrow::Cow<'a, str>>,
            #[serde(borrow, default)]
            choices: Vec<Choice<'a>>,
            #[serde(default)]
            usage: Option<Usage>,
        }
        // Borrowed where the text has no escapes: only what is kept is copied.
        #[derive(serde::Deserialize)]
        struct Choice<'a> {
            #[serde(borrow, default)]
            finish_reason: Option<std::borrow::Cow<'a, str>>,
            #[serde(borrow, default)]
            message: Option<Text<'a>>,
            #[serde(borrow, default)]
            delta: Option<Text<'a>>,
        }
        #[derive(serde::Deserialize)]
        struct Text<'a> {
            #[serde(borrow, default)]
            content: Option<std::borrow::Cow<'a, str>>,
        }
        #[derive(serde::Deserialize)]
        struct Usage {
            #[serde(default)]
            prompt_tokens: Option<u64>,
            #[serde(default)]
            completion_tokens: Option<u64>,
        }
        let Ok(parsed) = serde_json::from_slice::<Body>(body) else {
            return;
        };
        if self.id.is_none() {
            self.id = parsed.id.filter(|s| !s.is_empty()).map(|s| s.into_owned());
        }
        if self.model.is_none() {
            self.model = parsed.model.filter(|s| !s.is_empty()).map(|s| s.into_owned());
        }
        for choice in parsed.choices {
            if let Some(reason) = choice.finish_reason {
                self.finish_reasons.push(reason.into_owned());
            }
            if capture {
                if let Some(text) = choice.message.or(choice.delta).and_then(|t| t.content) {
                    self.output_text.get_or_insert_with(String::new).push_str(&text);
                }
            }
        }
        if let Some(usage) = parsed.usage {
            self.input_tokens = usage.prompt_tokens.or(self.input_tokens);
            self.output_tokens = usage.completion_tokens.or(self.output_tokens);
        }
    }
}

/// `Reply::total_tokens` of an odd body: `usage.total_tokens` as a strict typed read finds it.
fn odd_total_tokens(body: &[u8]) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Body {
        usage: Option<UsageTotal>,
    }
    #[derive(serde::Deserialize)]
    struct UsageTotal {
        total_tokens: u64,
    }
    serde_json::from_slice::<Body>(body).ok()?.usage.map(|u| u.total_tokens)
}

mod typed {
    //! The hand-written visitors of `TypedReply`: objects only (a derived visitor would also take
    //! an array), each known member at most once, other members checked as `Value` checks them.

    use std::borrow::Cow;
    use std::fmt;
    use std::marker::PhantomData;

    use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
    use serde::Deserialize;

    use super::{ReplyChoice, TypedReply, UsageCounts};

    /// Reads the members of an object: `member` gets each known name's index (in `names`) and
    /// reads its value; other members are checked and skipped. A name seen twice is an error.
    fn members<'de, A: MapAccess<'de>>(
        mut map: A,
        names: &'static [&'static str],
        mut member: impl FnMut(usize, &mut A) -> Result<(), A::Error>,
    ) -> Result<(), A::Error> {
        let mut seen = 0u32;
        while let Some(key) = map.next_key_seed(Name(names))? {
            match key {
                Some(index) => {
                    if seen & (1 << index) != 0 {
                        return Err(de::Error::duplicate_field(names[index]));
                    }
                    seen |= 1 << index;
                    member(index, &mut map)?;
                }
                None => {
                    map.next_value::<Checked>()?;
                }
            }
        }
        Ok(())
    }

    /// A member name: the index of a known one, `None` for another.
    struct Name(&'static [&'static str]);

    impl<'de> de::DeserializeSeed<'de> for Name {
        type Value = Option<usize>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
            d.deserialize_str(self)
        }
    }

    impl<'de> Visitor<'de> for Name {
        type Value = Option<usize>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a member name")
        }
        fn visit_str<E: de::Error>(self, name: &str) -> Result<Option<usize>, E> {
            Ok(self.0.iter().position(|n| *n == name))
        }
    }

    /// Any JSON value, checked as `serde_json::Value` reads it (string escapes, nesting depth,
    /// number range) and dropped without allocating.
    struct Checked;

    impl<'de> Deserialize<'de> for Checked {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Checked, D::Error> {
            d.deserialize_any(Checked)
        }
    }

    impl<'de> Visitor<'de> for Checked {
        type Value = Checked;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_bool<E>(self, _: bool) -> Result<Checked, E> {
            Ok(Checked)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Checked, E> {
            Ok(Checked)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Checked, E> {
            Ok(Checked)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Checked, E> {
            Ok(Checked)
        }
        fn visit_str<E>(self, _: &str) -> Result<Checked, E> {
            Ok(Checked)
        }
        fn visit_unit<E>(self) -> Result<Checked, E> {
            Ok(Checked)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
            while seq.next_element::<Checked>()?.is_some() {}
            Ok(Checked)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
            while map.next_key::<Checked>()?.is_some() {
                map.next_value::<Checked>()?;
            }
            Ok(Checked)
        }
    }

    /// A string or `null`, borrowed where it has no escapes.
    struct Text<'a>(Option<Cow<'a, str>>);

    impl<'de> Deserialize<'de> for Text<'de> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Text<'de>, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Text<'de>;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("a string or null")
                }
                fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Text<'de>, E> {
                    Ok(Text(Some(Cow::Borrowed(s))))
                }
                fn visit_str<E>(self, s: &str) -> Result<Text<'de>, E> {
                    Ok(Text(Some(Cow::Owned(s.to_owned()))))
                }
                fn visit_unit<E>(self) -> Result<Text<'de>, E> {
                    Ok(Text(None))
                }
            }
            d.deserialize_any(V)
        }
    }

    /// An unsigned integer or `null`.
    struct Count(Option<u64>);

    impl<'de> Deserialize<'de> for Count {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Count, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Count;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("an unsigned integer or null")
                }
                fn visit_u64<E>(self, n: u64) -> Result<Count, E> {
                    Ok(Count(Some(n)))
                }
                fn visit_unit<E>(self) -> Result<Count, E> {
                    Ok(Count(None))
                }
            }
            d.deserialize_any(V)
        }
    }

    /// An object read by `read`, or `null` (`None`).
    struct Object<T>(Option<T>);

    trait Members<'de>: Default {
        const NAMES: &'static [&'static str];
        fn member<A: MapAccess<'de>>(&mut self, index: usize, map: &mut A) -> Result<(), A::Error>;
    }

    impl<'de, T: Members<'de>> Deserialize<'de> for Object<T> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Object<T>, D::Error> {
            struct V<T>(PhantomData<T>);
            impl<'de, T: Members<'de>> Visitor<'de> for V<T> {
                type Value = Object<T>;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("an object or null")
                }
                fn visit_unit<E>(self) -> Result<Object<T>, E> {
                    Ok(Object(None))
                }
                fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Object<T>, A::Error> {
                    let mut value = T::default();
                    members(map, T::NAMES, |index, map| value.member(index, map))?;
                    Ok(Object(Some(value)))
                }
            }
            d.deserialize_any(V(PhantomData))
        }
    }

    impl<'de> Deserialize<'de> for TypedReply<'de> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<TypedReply<'de>, D::Error> {
            match Object::<TypedReply<'de>>::deserialize(d)?.0 {
                Some(reply) => Ok(reply),
                None => Err(de::Error::custom("the answer is null")),
            }
        }
    }

    impl<'de> Members<'de> for TypedReply<'de> {
        const NAMES: &'static [&'static str] = &["id", "model", "choices", "usage"];
        fn member<A: MapAccess<'de>>(&mut self, index: usize, map: &mut A) -> Result<(), A::Error> {
            match index {
                0 => self.id = map.next_value::<Text>()?.0,
                1 => self.model = map.next_value::<Text>()?.0,
                2 => {
                    self.choices = map.next_value::<Choices>()?.0;
                    self.has_choices = true;
                }
                _ => self.usage = map.next_value::<Object<UsageCounts>>()?.0,
            }
            Ok(())
        }
    }

    /// `choices`: an array of choice objects (not `null`).
    struct Choices<'a>(Vec<ReplyChoice<'a>>);

    impl<'de> Deserialize<'de> for Choices<'de> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Choices<'de>, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Choices<'de>;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("an array of choices")
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Choices<'de>, A::Error> {
                    let mut choices = Vec::with_capacity(seq.size_hint().unwrap_or(1));
                    while let Some(choice) = seq.next_element::<Object<ReplyChoice<'de>>>()? {
                        choices.push(choice.0.ok_or_else(|| de::Error::custom("a choice is null"))?);
                    }
                    Ok(Choices(choices))
                }
            }
            d.deserialize_any(V)
        }
    }

    impl<'de> Members<'de> for ReplyChoice<'de> {
        const NAMES: &'static [&'static str] = &["finish_reason", "message", "delta"];
        fn member<A: MapAccess<'de>>(&mut self, index: usize, map: &mut A) -> Result<(), A::Error> {
            match index {
                0 => self.finish_reason = map.next_value::<Text>()?.0,
                1 => self.message = map.next_value::<Object<Message<'de>>>()?.0.map(|m| m.0),
                _ => self.delta = map.next_value::<Object<Message<'de>>>()?.0.map(|m| m.0),
            }
            Ok(())
        }
    }

    /// A message or a delta: its `content`.
    #[derive(Default)]
    struct Message<'a>(Option<Cow<'a, str>>);

    impl<'de> Members<'de> for Message<'de> {
        const NAMES: &'static [&'static str] = &["content"];
        fn member<A: MapAccess<'de>>(&mut self, _: usize, map: &mut A) -> Result<(), A::Error> {
            self.0 = map.next_value::<Text>()?.0;
            Ok(())
        }
    }

    impl<'de> Members<'de> for UsageCounts {
        const NAMES: &'static [&'static str] = &[
            "prompt_tokens",
            "completion_tokens",
            "total_tokens",
            "prompt_tokens_details",
            "cache_creation_input_tokens",
        ];
        fn member<A: MapAccess<'de>>(&mut self, index: usize, map: &mut A) -> Result<(), A::Error> {
            match index {
                0 => self.prompt_tokens = map.next_value::<Count>()?.0,
                1 => self.completion_tokens = map.next_value::<Count>()?.0,
                2 => self.total_tokens = map.next_value::<Count>()?.0,
                3 => self.cached_tokens = map.next_value::<Object<Details>>()?.0.and_then(|d| d.0),
                _ => self.cache_creation_input_tokens = map.next_value::<Count>()?.0,
            }
            Ok(())
        }
    }

    /// `prompt_tokens_details`: its `cached_tokens`.
    #[derive(Default)]
    struct Details(Option<u64>);

    impl<'de> Members<'de> for Details {
        const NAMES: &'static [&'static str] = &["cached_tokens"];
        fn member<A: MapAccess<'de>>(&mut self, _: usize, map: &mut A) -> Result<(), A::Error> {
            self.0 = map.next_value::<Count>()?.0;
            Ok(())
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::Value;

    use super::*;
    use crate::price::Price;

    /// Answers of every shape the readers meet, usual and odd.
    pub(crate) fn bodies() -> Vec<Vec<u8>> {
        let deep = format!(
            r#"{{"x": {}{}, "usage": {{"prompt_tokens": 1, "completion_tokens": 1}}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        let mut bodies: Vec<Vec<u8>> = [
            r#"{"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi!"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}}"#,
            r#"{"id": "a", "choices": [], "usage": null}"#,
            r#"{"id": "a", "choices": [{"message": {"content": null}, "finish_reason": null}]}"#,
            r#"{"usage": {"prompt_tokens": 18446744073709551615, "completion_tokens": 18446744073709551615, "total_tokens": 18446744073709551615}}"#,
            r#"{"usage": {"prompt_tokens": 18446744073709551616, "completion_tokens": 1, "total_tokens": 2}}"#,
            r#"{"usage": {"prompt_tokens": 2.0, "completion_tokens": 1, "total_tokens": 3}}"#,
            r#"{"usage": {"prompt_tokens": -2, "completion_tokens": 1, "total_tokens": 3}}"#,
            r#"{"usage": {"prompt_tokens": "2", "completion_tokens": 1, "total_tokens": 3}}"#,
            r#"{"usage": {"prompt_tokens": 2, "completion_tokens": 1}, "big": 1e400}"#,
            r#"{"usage": {"prompt_tokens": 2, "completion_tokens": 1}, "big": 1e300}"#,
            r#"{"usage": "lots"}"#,
            r#"{"usage": [1, 2, 3]}"#,
            r#"{"usage": {"prompt_tokens": 2000, "completion_tokens": 100, "total_tokens": 2100,
                          "prompt_tokens_details": {"cached_tokens": 1000, "audio_tokens": 0}}}"#,
            r#"{"usage": {"prompt_tokens": 135, "completion_tokens": 15, "cache_creation_input_tokens": 10,
                          "prompt_tokens_details": {"cached_tokens": 100}}}"#,
            r#"{"usage": {"prompt_tokens": 3, "completion_tokens": 1, "prompt_tokens_details": null}}"#,
            r#"{"usage": {"prompt_tokens": 3, "completion_tokens": 1, "prompt_tokens_details": [5]}}"#,
            r#"{"usage": {"prompt_tokens": 3, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": "1"}}}"#,
            r#"{"usage": {"prompt_tokens": 8000, "total_tokens": 8000}, "data": [{"embedding": [0.1, -2e-3], "index": 0}]}"#,
            r#"{"usage": {"prompt_tokens": 0, "total_tokens": 0}, "data": []}"#,
            r#"{"usage": {"total_tokens": 5}, "usage": {"total_tokens": 6, "prompt_tokens": 1, "completion_tokens": 1}}"#,
            r#"{"id": "a", "id": "b", "choices": []}"#,
            r#"{"extra": 1, "extra": 2, "id": "a", "usage": {"prompt_tokens": 1, "completion_tokens": 1, "x": 1, "x": 2}}"#,
            r#"{"id": "chatcmpl-\u00e9\ud83d\ude00\n", "model": "m\u002fx", "choices": [{"delta": {"content": "\u00e9t\u00e9"}, "finish_reason": "st\u006fp"}]}"#,
            r#"{"id": "\ud800", "choices": []}"#,
            r#"{"id": "a", "note": "\ud800x", "usage": {"prompt_tokens": 1, "completion_tokens": 1}}"#,
            r#"{"\u0075sage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}"#,
            r#"{"id": 5, "usage": {"prompt_tokens": 1, "completion_tokens": 1}}"#,
            r#"{"id": "", "model": "", "choices": null, "usage": {"prompt_tokens": 1, "completion_tokens": 1}}"#,
            r#"{"choices": [["stop"]], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}"#,
            r#"{"choices": [null]}"#,
            r#"{"choices": [{"message": ["hi"], "finish_reason": "stop"}]}"#,
            r#"{"choices": [{"message": null, "delta": {"content": "d"}, "finish_reason": "length"}, {"finish_reason": "stop", "message": {"content": "m"}, "delta": {"content": "x"}}]}"#,
            r#"{"choices": [{"finish_reason": 1}]}"#,
            r#"  {"id": "spaced"}  "#,
            r#"{"id": "a"} trailing"#,
            r#"{"id": "a""#,
            "[]",
            r#"[{"total_tokens": 5}]"#,
            r#"["id", "model", [], {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}]"#,
            r#""}""#,
            "null",
            "5",
            "",
            "not json",
            "{}",
            "{ }",
        ]
        .iter()
        .map(|b| b.as_bytes().to_vec())
        .collect();
        bodies.push(deep.into_bytes());
        // Invalid UTF-8 in a member no reader reads.
        bodies.push(
            b"{\"note\": \"\xff\", \"usage\": {\"prompt_tokens\": 1, \"completion_tokens\": 1, \"total_tokens\": 2}}"
                .to_vec(),
        );
        bodies.push(b"{\"id\": \"\xff\"}".to_vec());
        bodies
    }

    /// The cost as it was read before `Reply`: the body parsed into a `Value`, its `usage` (even
    /// `null`) taken out and priced by JSON pointers (`UsageCounts::of_value`, the pointers the
    /// price used to read).
    fn cost_before(price: &Price, body: &[u8]) -> Option<f64> {
        let usage = serde_json::from_slice::<Value>(body).ok().and_then(|mut v| v.get_mut("usage").map(Value::take))?;
        crate::price::cost(price, &UsageCounts::of_value(&usage))
    }

    #[test]
    fn one_parse_gives_the_cost_and_tokens_the_separate_reads_gave() {
        let price = Price { input: 2.5, output: 10.0, cached_input: Some(1.25), cache_write: Some(3.75) };
        let mut typed = 0;
        for body in bodies() {
            let shown = String::from_utf8_lossy(&body).into_owned();
            let reply = Reply::parse(&body);
            typed += usize::from(matches!(reply, Reply::Typed(_)));
            let cost = reply.usage().and_then(|u| crate::price::cost(&price, &u));
            assert_eq!(cost, cost_before(&price, &body), "cost of {shown}");
            assert_eq!(reply.total_tokens(), odd_total_tokens(&body), "total tokens of {shown}");
            // The odd path is the readers' own: it agrees with itself.
            assert_eq!(Reply::Odd(&body).usage(), reply.usage(), "usage of {shown}");
        }
        assert!(typed >= 15, "the usual shapes take the typed path ({typed})");
    }

    #[test]
    fn usual_answers_are_typed_and_odd_ones_are_not() {
        let typed = |b: &str| matches!(Reply::parse(b.as_bytes()), Reply::Typed(_));
        assert!(typed(r#"{"id": "x", "choices": [], "usage": null}"#));
        assert!(typed(r#"{"id": "chatcmpl-\u00e9", "choices": [{"delta": {"content": "\u00e9"}}]}"#));
        for odd in [
            r#"{"usage": {"total_tokens": 5}, "usage": null}"#,
            r#"{"usage": {"prompt_tokens": 1.0}}"#,
            r#"{"usage": {"prompt_tokens": 18446744073709551616}}"#,
            r#"{"note": "\ud800"}"#,
            r#"{"big": 1e400}"#,
            r#"[{"total_tokens": 5}]"#,
            r#"{"choices": null}"#,
            "not json",
        ] {
            assert!(!typed(odd), "{odd}");
        }
        let Reply::Typed(reply) = Reply::parse(
            br#"{"id": "c\u00e9", "model": "m", "choices": [{"finish_reason": "stop", "message": {"content": "hi"}}],
                 "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4,
                           "prompt_tokens_details": {"cached_tokens": 2}, "cache_creation_input_tokens": 1}}"#,
        ) else {
            panic!("a usual answer is typed")
        };
        assert_eq!(reply.id.as_deref(), Some("cé"));
        assert!(matches!(reply.model, Some(Cow::Borrowed("m"))), "strings without escapes are borrowed");
        assert_eq!(reply.choices[0].finish_reason.as_deref(), Some("stop"));
        assert_eq!(reply.choices[0].content(), Some("hi"));
        assert_eq!(
            reply.usage,
            Some(UsageCounts {
                prompt_tokens: Some(3),
                completion_tokens: Some(1),
                total_tokens: Some(4),
                cached_tokens: Some(2),
                cache_creation_input_tokens: Some(1),
            })
        );
    }

    #[test]
    fn members_go_at_the_end_of_objects_only() {
        let insert = |body: &str| String::from_utf8(insert_raw_member(body.into(), "liter_llm", b"{\"x\":1}")).unwrap();
        assert_eq!(insert(r#"{"id": 1}"#), r#"{"id": 1,"liter_llm":{"x":1}}"#);
        assert_eq!(insert("{ }"), r#"{ "liter_llm":{"x":1}}"#);
        assert_eq!(insert(r#"{"a": {"b": 2}}  "#), r#"{"a": {"b": 2},"liter_llm":{"x":1}}  "#);
        assert_eq!(insert("[1]"), "[1]");
        let value = serde_json::json!({"x": [1, "y"]});
        assert_eq!(insert_member(b"{}".to_vec(), "m", &value), br#"{"m":{"x":[1,"y"]}}"#);
    }
}
