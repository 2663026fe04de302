//! Namespace, topic and pattern rules (design.md §3.4) and wildcard matching.
//!
//! The broker matches through a trie (see `server/src/engine/subscriptions.rs`);
//! [`Pattern::matches`] is the reference semantics the trie is tested
//! against and what clients use to dispatch one delivery to their local
//! subscriptions.

use crate::error::ProtocolError;

/// Longest level (namespace or topic level), in bytes.
pub const MAX_LEVEL_LEN: usize = 32;
/// Most levels in a topic or pattern.
pub const MAX_LEVELS: usize = 3;
/// Namespace no user may publish to or subscribe in.
pub const RESERVED_NAMESPACE: &str = "system";
/// Longest valid topic or pattern: three full levels and two dots. Checked
/// before anything splits a name, so a huge name costs nothing but its frame
/// (a 64 MiB topic of dots once made the broker allocate about 1 GiB).
pub const MAX_NAME_LEN: usize = MAX_LEVELS * MAX_LEVEL_LEN + (MAX_LEVELS - 1);
/// Characters of an offending name that errors and logs show.
pub const SHOWN_NAME_CHARS: usize = 64;

/// A name as errors and logs show it: at most [`SHOWN_NAME_CHARS`]
/// characters, control characters replaced by `?` (JSON escaping would
/// grow each sixfold), and the full length when it was cut.
pub fn shown(name: &str) -> String {
    let mut out: String = name.chars().take(SHOWN_NAME_CHARS).map(|c| if c.is_control() { '?' } else { c }).collect();
    if name.chars().nth(SHOWN_NAME_CHARS).is_some() {
        out.push_str(&format!("… ({} bytes)", name.len()));
    }
    out
}

fn is_level(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_LEVEL_LEN && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `^[A-Za-z0-9_]{1,32}$`, and not `system`.
pub fn validate_namespace(ns: &str) -> Result<(), ProtocolError> {
    if !is_level(ns) {
        return Err(ProtocolError::Namespace(shown(ns)));
    }
    if ns == RESERVED_NAMESPACE {
        return Err(ProtocolError::ReservedNamespace);
    }
    Ok(())
}

/// 1–3 levels separated by `.`, each `^[A-Za-z0-9_]{1,32}$`.
pub fn validate_topic(topic: &str) -> Result<(), ProtocolError> {
    if topic.len() > MAX_NAME_LEN {
        return Err(ProtocolError::Topic(shown(topic)));
    }
    let mut n = 0;
    for level in topic.split('.') {
        n += 1;
        if n > MAX_LEVELS || !is_level(level) {
            return Err(ProtocolError::Topic(shown(topic)));
        }
    }
    Ok(())
}

/// One level of a subscription pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PatternLevel {
    Literal(String),
    /// `*`: exactly one level.
    Star,
    /// `>`: one or more levels; only as the last level.
    Tail,
}

/// A validated subscription pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pattern {
    levels: Vec<PatternLevel>,
}

impl Pattern {
    pub fn parse(s: &str) -> Result<Self, ProtocolError> {
        let bad = || ProtocolError::Pattern(shown(s));
        if s.len() > MAX_NAME_LEN {
            return Err(bad());
        }
        let parts: Vec<&str> = s.split('.').collect();
        if parts.len() > MAX_LEVELS {
            return Err(bad());
        }
        let mut levels = Vec::with_capacity(parts.len());
        for (i, p) in parts.iter().enumerate() {
            let level = match *p {
                "*" => PatternLevel::Star,
                ">" if i == parts.len() - 1 => PatternLevel::Tail,
                lit if is_level(lit) => PatternLevel::Literal(lit.to_owned()),
                _ => return Err(bad()),
            };
            levels.push(level);
        }
        Ok(Pattern { levels })
    }

    pub fn levels(&self) -> &[PatternLevel] {
        &self.levels
    }

    /// True when the pattern has no wildcard (it names exactly one topic).
    pub fn is_literal(&self) -> bool {
        self.levels.iter().all(|l| matches!(l, PatternLevel::Literal(_)))
    }

    /// Reference matching: `*` is exactly one level, `>` one or more.
    pub fn matches(&self, topic: &str) -> bool {
        let mut t = topic.split('.');
        for level in &self.levels {
            match level {
                PatternLevel::Tail => return t.next().is_some(),
                PatternLevel::Star => {
                    if t.next().is_none() {
                        return false;
                    }
                }
                PatternLevel::Literal(lit) => {
                    if t.next() != Some(lit.as_str()) {
                        return false;
                    }
                }
            }
        }
        t.next().is_none()
    }
}

impl std::fmt::Display for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, l) in self.levels.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            match l {
                PatternLevel::Literal(s) => f.write_str(s)?,
                PatternLevel::Star => f.write_str("*")?,
                PatternLevel::Tail => f.write_str(">")?,
            }
        }
        Ok(())
    }
}

/// Validates a pattern string (see [`Pattern::parse`]).
pub fn validate_pattern(p: &str) -> Result<(), ProtocolError> {
    Pattern::parse(p).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_and_hostile_names_are_refused_and_shown_short() {
        let dots = ".".repeat(10_000_000);
        let e = validate_pattern(&dots).unwrap_err();
        assert!(e.to_string().len() < 300, "{}", e.to_string().len());
        assert!(e.to_string().contains("(10000000 bytes)"));
        assert!(validate_topic(&dots).unwrap_err().to_string().len() < 300);
        assert!(validate_namespace(&dots).unwrap_err().to_string().len() < 300);
        // The longest valid names still pass.
        let longest = ["a".repeat(32), "b".repeat(32), "c".repeat(32)].join(".");
        assert_eq!(longest.len(), MAX_NAME_LEN);
        validate_topic(&longest).unwrap();
        validate_pattern(&longest).unwrap();
        // Control characters cannot make the JSON error body grow.
        assert_eq!(shown("a\u{1}\nb"), "a??b");
        assert_eq!(shown("€".repeat(70).as_str()).chars().filter(|&c| c == '€').count(), SHOWN_NAME_CHARS);
    }

    #[test]
    fn namespaces() {
        for ok in ["market_data", "a", "A_1", &"x".repeat(32)] {
            assert!(validate_namespace(ok).is_ok(), "{ok}");
        }
        for bad in ["", "system", "a:b", "a.b", "a b", "é", &"x".repeat(33), "md\n"] {
            assert!(validate_namespace(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn topics() {
        for ok in ["a", "sz000651.kline.1m", "a.b", &format!("{0}.{0}.{0}", "x".repeat(32))] {
            assert!(validate_topic(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a..b", ".a", "a.", "a.b.c.d", "a.*", "a.>", "abc\n", "a-b", &"x".repeat(33)] {
            assert!(validate_topic(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn patterns() {
        for ok in ["a", "*", ">", "a.*", "a.>", "*.kline.1m", "*.*.*", "a.*.>"] {
            assert!(validate_pattern(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a.>.c", ">.a", "a.b.c.d", "a..b", "a.**", "a.b>", "a.#"] {
            assert!(validate_pattern(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn matching_table() {
        let table: &[(&str, &str, bool)] = &[
            ("sz000651.kline.*", "sz000651.kline.1m", true),
            ("sz000651.kline.*", "sz000651.kline", false),
            ("sz000651.>", "sz000651.trade", true),
            ("sz000651.>", "sz000651.kline.1m", true),
            ("sz000651.>", "sz000651", false),
            ("*.kline.1m", "sz000651.kline.1m", true),
            ("*.kline.1m", "sz000651.kline.5m", false),
            ("a.*", "a.b", true),
            ("a.*", "a.b.c", false),
            ("a.*", "a", false),
            (">", "a", true),
            (">", "a.b.c", true),
            ("*", "a", true),
            ("*", "a.b", false),
            ("a.b", "a.b", true),
            ("a.b", "a.bc", false),
            ("a.*.>", "a.b.c", true),
            ("a.*.>", "a.b", false),
        ];
        for (p, t, want) in table {
            assert_eq!(Pattern::parse(p).unwrap().matches(t), *want, "{p} ~ {t}");
        }
    }

    #[test]
    fn display_round_trips() {
        for p in ["a.*.>", "*.kline.1m", ">"] {
            assert_eq!(Pattern::parse(p).unwrap().to_string(), p);
        }
    }
}
