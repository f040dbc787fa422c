//! The audit trail: one JSON line per logical call, appended to a file (docs/audit.md). A record
//! names what was called and how it ended, never what was said: the prompt only as a keyed hash
//! (`prompt_hash`), the API key only as a short hash (`key_id`).
//!
//! Each record is written with one `write` on a file opened with `O_APPEND`, so records of
//! concurrent processes never interleave within a line. Records form hash chains, one per client
//! instance and process (`chain`): `seq` counts from 1, `prev` is the previous record's `hash`
//! (empty for the first), and `hash` is HMAC-SHA256 (keyed by `audit.hmac_key`) or SHA-256 over
//! `prev`, a newline, and the record's RFC 8785 canonical JSON without `hash`. `verify` walks the
//! chains; it cannot see records cut from the end of a chain.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, Write};
use std::sync::Mutex;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::cache::{hex, write_canonical, write_canonical_str};
use crate::config::AuditConfig;
use crate::error::{Error, Result};
use crate::secret::Secret;

/// Records longer than this are refused by `verify` (a record is a few hundred bytes).
const MAX_LINE: usize = 64 * 1024;

/// A client's audit file and chain.
pub struct Audit {
    path: String,
    hasher: Hasher,
    state: Mutex<Chain>,
}

/// The hash records and prompts are given: HMAC-SHA256 with the audit key, prepared once (the
/// key's padded blocks hashed), or plain SHA-256.
#[derive(Clone)]
enum Hasher {
    Keyed(Hmac<Sha256>),
    Plain,
}

impl Hasher {
    fn new(key: Option<&Secret>) -> Hasher {
        match key {
            Some(key) => Hasher::Keyed(
                Hmac::<Sha256>::new_from_slice(key.expose().as_bytes())
                    .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length")),
            ),
            None => Hasher::Plain,
        }
    }

    fn is_keyed(&self) -> bool {
        matches!(self, Hasher::Keyed(_))
    }

    fn digest(&self, parts: &[&[u8]]) -> String {
        match self {
            Hasher::Keyed(mac) => {
                let mut mac = mac.clone();
                for part in parts {
                    mac.update(part);
                }
                format!("hmac-sha256:{}", hex(&mac.finalize().into_bytes()))
            }
            Hasher::Plain => {
                let mut sha = Sha256::new();
                for part in parts {
                    sha.update(part);
                }
                format!("sha256:{}", hex(&sha.finalize()))
            }
        }
    }
}

struct Chain {
    file: File,
    /// The process the chain belongs to: a forked child starts its own chain.
    pid: u32,
    id: String,
    seq: u64,
    prev: String,
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit").field("path", &self.path).field("keyed", &self.hasher.is_keyed()).finish()
    }
}

/// What one call's record says (the chain fields and `ts` are added when it is written).
#[derive(Debug, Default)]
pub(crate) struct Record {
    pub(crate) request_id: String,
    pub(crate) operation: &'static str,
    pub(crate) provider: String,
    pub(crate) model: String,
    /// `ok`, or the error kind.
    pub(crate) outcome: String,
    pub(crate) status: Option<u16>,
    pub(crate) attempts: u32,
    pub(crate) input_tokens: Option<u64>,
    pub(crate) output_tokens: Option<u64>,
    pub(crate) duration_ms: u64,
    pub(crate) key_id: Option<String>,
    pub(crate) prompt_hash: String,
}

/// A short, unkeyed hash naming an API key (16 hex digits of its SHA-256): enough to tell keys
/// apart, and an API key has too much entropy to be guessed from it.
pub(crate) fn key_id(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes())[..8])
}

/// A chain's id: from the operating system's generator, once per chain.
fn chain_id() -> String {
    hex(&crate::telemetry::context::os_random_bytes::<8>())
}

impl Audit {
    /// The audit `[audit]` or `LITER_LLM_AUDIT_PATH` asks for; `None` when off. The file is
    /// opened (and created) here, so a path that cannot be written fails the configuration.
    pub fn from_config(table: &AuditConfig) -> Result<Option<Audit>> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let Some(path) = table.path.clone().or_else(|| env("LITER_LLM_AUDIT_PATH")) else {
            return Ok(None);
        };
        let key = table.hmac_key.clone().or_else(|| env("LITER_LLM_AUDIT_HMAC_KEY").map(Secret::new));
        Audit::open(&path, key).map(Some)
    }

    pub fn open(path: &str, key: Option<Secret>) -> Result<Audit> {
        let file = open_append(path)?;
        let chain = Chain { file, pid: std::process::id(), id: chain_id(), seq: 0, prev: String::new() };
        Ok(Audit { path: path.to_owned(), hasher: Hasher::new(key.as_ref()), state: Mutex::new(chain) })
    }

    /// `prompt_hash`: the keyed (or plain) hash of the request's canonical `messages`.
    pub(crate) fn prompt_hash(&self, messages: Option<&Value>) -> String {
        let mut canonical = Vec::with_capacity(256);
        write_canonical(messages.unwrap_or(&Value::Null), &mut canonical);
        self.hasher.digest(&[&canonical])
    }

    /// A call's random id, drawn in process `pid` (the current one).
    pub(crate) fn request_id(pid: u32) -> String {
        hex(&crate::telemetry::context::random_bytes::<16>(pid))
    }

    /// Appends the record. An audit file that cannot be written loses the record, never the
    /// call; the failure is reported once per client on standard error, without any content.
    /// `pid` is the current process's id (the caller has asked for it already).
    pub(crate) fn write(&self, record: Record, pid: u32) {
        let Some(mut chain) = crate::telemetry::lock_briefly(&self.state, 5000) else {
            return;
        };
        if chain.pid != pid {
            // A forked child: its own chain, its own file description.
            match open_append(&self.path) {
                Ok(file) => chain.file = file,
                Err(_) => return,
            }
            chain.pid = pid;
            chain.id = chain_id();
            chain.seq = 0;
            chain.prev.clear();
        }
        // The record's canonical JSON (RFC 8785: members in byte order, their names all ASCII),
        // written directly: `head` holds the members before `hash`, `tail` those after it, so
        // the hashed text (without `hash`) and the line (with it) share both.
        let ts = rfc3339(std::time::SystemTime::now());
        let mut head = Members(Vec::with_capacity(96));
        head.0.push(b'{');
        head.num("attempts", Some(u64::from(record.attempts)));
        head.str("chain", Some(&chain.id));
        head.num("duration_ms", Some(record.duration_ms));
        // `hash` goes here.
        let mut tail = Members(Vec::with_capacity(384));
        tail.0.push(b',');
        tail.num("input_tokens", record.input_tokens);
        tail.str("key_id", record.key_id.as_deref());
        tail.str("model", Some(&record.model));
        tail.str("operation", Some(record.operation));
        tail.str("outcome", Some(&record.outcome));
        tail.num("output_tokens", record.output_tokens);
        tail.str("prev", Some(&chain.prev));
        tail.str("prompt_hash", Some(&record.prompt_hash));
        tail.str("provider", Some(&record.provider));
        tail.str("request_id", Some(&record.request_id));
        tail.num("seq", Some(chain.seq + 1));
        tail.num("status", record.status.map(u64::from));
        tail.str("ts", Some(&ts));
        tail.0.push(b'}');
        let (head, tail) = (head.0, tail.0);
        let hash = self.hasher.digest(&[chain.prev.as_bytes(), b"\n", &head, &tail]);
        let mut line = Vec::with_capacity(head.len() + tail.len() + hash.len() + 12);
        line.extend_from_slice(&head);
        line.extend_from_slice(b",\"hash\":");
        write_canonical_str(&hash, &mut line);
        line.extend_from_slice(&tail);
        line.push(b'\n');
        // One write for the whole line: O_APPEND places it at the end atomically.
        let written = chain.file.write(&line);
        match written {
            Ok(n) if n == line.len() => {
                chain.seq += 1;
                chain.prev = hash;
            }
            Ok(n) => {
                // A short write (a full disk): finish the line so the next one starts clean.
                let _ = chain.file.write_all(&line[n..]);
                chain.seq += 1;
                chain.prev = hash;
            }
            Err(_) => {}
        }
    }
}

/// Members of a canonical JSON object being written in order (names are ASCII and need no
/// escaping); `None` is `null`.
struct Members(Vec<u8>);

impl Members {
    fn name(&mut self, name: &str) {
        if !matches!(self.0.last(), Some(b'{' | b',')) {
            self.0.push(b',');
        }
        self.0.push(b'"');
        self.0.extend_from_slice(name.as_bytes());
        self.0.extend_from_slice(b"\":");
    }

    fn str(&mut self, name: &str, value: Option<&str>) {
        self.name(name);
        match value {
            Some(v) => write_canonical_str(v, &mut self.0),
            None => self.0.extend_from_slice(b"null"),
        }
    }

    fn num(&mut self, name: &str, value: Option<u64>) {
        self.name(name);
        match value {
            Some(v) => self.0.extend_from_slice(itoa::Buffer::new().format(v).as_bytes()),
            None => self.0.extend_from_slice(b"null"),
        }
    }
}

fn open_append(path: &str) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::invalid_request(format!("audit: cannot open {path} for appending: {e}")))
}

/// RFC 3339 UTC with milliseconds (`2026-01-02T03:04:05.678Z`).
fn rfc3339(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Why verification stopped: the first bad line (1-based) and what was wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditLogError {
    pub line: usize,
    pub reason: String,
    /// Records verified before the bad line.
    pub verified: usize,
}

impl std::fmt::Display for AuditLogError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "audit log line {}: {}", self.line, self.reason)
    }
}

/// Checks every record of the file: each line's hash, and each chain's order (`seq` and
/// `prev`). Returns the number of records verified. Records cut from the end of a chain leave
/// no trace, so they are not found.
pub fn verify(path: &str, key: Option<&str>) -> std::result::Result<usize, VerifyError> {
    let file = File::open(path).map_err(|e| VerifyError::Io(format!("cannot read {path}: {e}")))?;
    let key = key.map(|k| Secret::new(k.to_owned()));
    verify_lines(std::io::BufReader::new(file), key.as_ref())
}

/// `verify`'s failure: the file could not be read, or a line is bad.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    Io(String),
    Bad(AuditLogError),
}

fn verify_lines(reader: impl BufRead, key: Option<&Secret>) -> std::result::Result<usize, VerifyError> {
    let mut chains: std::collections::HashMap<String, (u64, String)> = std::collections::HashMap::new();
    let hasher = Hasher::new(key);
    let mut count = 0;
    for (index, line) in reader.split(b'\n').enumerate() {
        let n = index + 1;
        let bad = |line: usize, reason: String| VerifyError::Bad(AuditLogError { line, reason, verified: count });
        let line = line.map_err(|e| VerifyError::Io(format!("cannot read line {n}: {e}")))?;
        if line.is_empty() {
            continue;
        }
        if line.len() > MAX_LINE {
            return Err(bad(n, format!("longer than {MAX_LINE} bytes")));
        }
        let Ok(Value::Object(mut fields)) = serde_json::from_slice::<Value>(&line) else {
            return Err(bad(n, "not a JSON object".into()));
        };
        let Some(Value::String(hash)) = fields.remove("hash") else {
            return Err(bad(n, "no `hash`".into()));
        };
        let (Some(Value::String(chain)), Some(seq), Some(Value::String(prev))) =
            (fields.get("chain").cloned(), fields.get("seq").and_then(Value::as_u64), fields.get("prev").cloned())
        else {
            return Err(bad(n, "no `chain`, `seq` or `prev`".into()));
        };
        if hash.starts_with("hmac-sha256:") && !hasher.is_keyed() {
            return Err(bad(n, "the record is keyed (hmac-sha256); pass the audit HMAC key".into()));
        }
        if hash.starts_with("sha256:") && hasher.is_keyed() {
            return Err(bad(n, "the record is not keyed, but a key was given".into()));
        }
        let mut canonical = Vec::with_capacity(line.len());
        write_canonical(&Value::Object(fields), &mut canonical);
        let expected = hasher.digest(&[prev.as_bytes(), b"\n", &canonical]);
        if expected != hash {
            return Err(bad(n, "the record's hash does not match its content (altered, or another key)".into()));
        }
        let (last_seq, last_hash) = chains.get(&chain).cloned().unwrap_or((0, String::new()));
        if seq != last_seq + 1 || prev != last_hash {
            return Err(bad(
                n,
                format!(
                    "chain {chain}: expected seq {} after the previous record, got {seq} (a record is missing or out of order)",
                    last_seq + 1
                ),
            ));
        }
        chains.insert(chain, (seq, hash));
        count += 1;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(model: &str) -> Record {
        Record {
            request_id: Audit::request_id(std::process::id()),
            operation: "chat",
            provider: "openai".into(),
            model: model.into(),
            outcome: "ok".into(),
            status: Some(200),
            attempts: 1,
            duration_ms: 3,
            ..Record::default()
        }
    }

    fn temp(name: &str) -> String {
        let dir = std::env::temp_dir().join(format!("liter-llm-audit-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        dir.to_string_lossy().into_owned()
    }

    #[test]
    fn records_chain_and_verify() {
        let path = temp("chain");
        let a = Audit::open(&path, Some(Secret::new("k".into()))).unwrap();
        let b = Audit::open(&path, Some(Secret::new("k".into()))).unwrap();
        for i in 0..3 {
            a.write(record(&format!("a{i}")), std::process::id());
            b.write(record(&format!("b{i}")), std::process::id());
        }
        assert_eq!(verify(&path, Some("k")), Ok(6));
        assert!(matches!(verify(&path, None), Err(VerifyError::Bad(AuditLogError { line: 1, .. }))));
        assert!(matches!(verify(&path, Some("other")), Err(VerifyError::Bad(AuditLogError { line: 1, .. }))));
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for line in &lines {
            let mut canonical = Vec::new();
            write_canonical(&serde_json::from_str(line).unwrap(), &mut canonical);
            assert_eq!(String::from_utf8(canonical).unwrap(), *line, "each record is its own canonical JSON");
        }
        let first: Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(first["seq"], 1);
        assert_eq!(first["prev"], "");
        assert!(first["ts"].as_str().unwrap().ends_with('Z'));
        // One byte altered in line 4.
        let mut altered = lines.clone();
        let changed = lines[3].replacen("\"model\":\"b1\"", "\"model\":\"b2\"", 1);
        altered[3] = &changed;
        std::fs::write(&path, altered.join("\n") + "\n").unwrap();
        assert_eq!(
            verify(&path, Some("k")).unwrap_err(),
            VerifyError::Bad(AuditLogError {
                line: 4,
                reason: "the record's hash does not match its content (altered, or another key)".into(),
                verified: 3
            })
        );
        // Line 3 (a's second record) removed: line 5 (a's third) is out of order.
        let removed: Vec<&str> = lines.iter().enumerate().filter(|(i, _)| *i != 2).map(|(_, l)| *l).collect();
        std::fs::write(&path, removed.join("\n") + "\n").unwrap();
        assert!(matches!(verify(&path, Some("k")), Err(VerifyError::Bad(AuditLogError { line: 4, .. }))));
        // Two records of one chain swapped.
        let mut swapped = lines.clone();
        swapped.swap(0, 2);
        std::fs::write(&path, swapped.join("\n") + "\n").unwrap();
        assert!(matches!(verify(&path, Some("k")), Err(VerifyError::Bad(AuditLogError { line: 1, .. }))));
        // A cut tail verifies (documented).
        std::fs::write(&path, lines[..4].join("\n") + "\n").unwrap();
        assert_eq!(verify(&path, Some("k")), Ok(4));
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn prompt_hashes_are_keyed_or_plain_over_canonical_messages() {
        let path = temp("hash");
        let plain = Audit::open(&path, None).unwrap();
        let keyed = Audit::open(&path, Some(Secret::new("key".into()))).unwrap();
        let a = serde_json::json!([{"role": "user", "content": "hi"}]);
        let b: Value = serde_json::from_str(r#"[{"content":"hi","role":"user"}]"#).unwrap();
        assert_eq!(plain.prompt_hash(Some(&a)), plain.prompt_hash(Some(&b)), "canonical: member order does not matter");
        assert_eq!(
            plain.prompt_hash(Some(&a)),
            format!("sha256:{}", hex(&Sha256::digest(br#"[{"content":"hi","role":"user"}]"#)))
        );
        assert!(keyed.prompt_hash(Some(&a)).starts_with("hmac-sha256:"));
        assert_ne!(keyed.prompt_hash(Some(&a)), plain.prompt_hash(Some(&a)).replace("sha256", "hmac-sha256"));
        assert_eq!(key_id("sk-abc").len(), 16);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn timestamps_are_rfc3339() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123);
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20.123Z");
    }
}
