//! A byte-level automaton for a JSON Schema subset, used to mask tokens during generation.
//!
//! Supported: `type` object (all `properties` emitted, in sorted key order), array (`items`,
//! `minItems`, `maxItems`), string (`maxLength`), integer, number, boolean, null; `enum` and
//! `const` of any JSON values. Output is compact JSON (no whitespace), so every accepted
//! output parses with serde_json and is bounded in length.

use serde_json::Value;

use crate::error::{LlmError, Result};

const DEFAULT_MAX_STRING: usize = 256;
const DEFAULT_MAX_ITEMS: usize = 32;
const MAX_NUMBER_LEN: u8 = 24;

#[derive(Debug, Clone)]
enum Step {
    Lit(Vec<u8>),
    Child(usize),
}

#[derive(Debug, Clone)]
enum Node {
    Object(Vec<Step>),
    Array {
        item: usize,
        min: usize,
        max: usize,
    },
    Str {
        max_len: usize,
    },
    Number {
        integer: bool,
    },
    /// Sorted, deduplicated serialized options (enum, const, boolean, null).
    Choice(Vec<Vec<u8>>),
}

/// A compiled schema.
#[derive(Debug, Clone)]
pub struct JsonGrammar {
    nodes: Vec<Node>,
    root: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Num {
    Start,
    Minus,
    Zero,
    Int,
    Dot,
    Frac,
    Exp,
    ExpSign,
    ExpDigits,
}

impl Num {
    fn is_final(self) -> bool {
        matches!(self, Num::Zero | Num::Int | Num::Frac | Num::ExpDigits)
    }
}

#[derive(Debug, Clone, Copy)]
enum Frame {
    Seq {
        node: usize,
        step: usize,
        pos: usize,
    },
    /// phase 0: expect `[`; 1: after `[`; 2: after an item; 3: after `,`.
    Arr {
        node: usize,
        count: usize,
        phase: u8,
    },
    /// esc 0: plain; 1: after `\`; 2..=5: inside `\uXXXX`. `need` continuation bytes of a
    /// UTF-8 character are still expected, the next one in `lo..=hi`.
    Str {
        node: usize,
        len: usize,
        esc: u8,
        open: bool,
        need: u8,
        lo: u8,
        hi: u8,
    },
    Num {
        integer: bool,
        st: Num,
        len: u8,
    },
    Choice {
        node: usize,
        pos: usize,
        lo: usize,
        hi: usize,
    },
}

/// The parse state of a partial output.
#[derive(Debug, Clone)]
pub(crate) struct JsonState {
    stack: Vec<Frame>,
}

impl JsonGrammar {
    /// Compiles a schema; unsupported constructs give [`LlmError::UnsupportedSchema`].
    pub fn compile(schema: &Value) -> Result<Self> {
        let mut g = JsonGrammar {
            nodes: Vec::new(),
            root: 0,
        };
        g.root = g.add(schema, "#")?;
        Ok(g)
    }

    fn push(&mut self, n: Node) -> usize {
        self.nodes.push(n);
        self.nodes.len() - 1
    }

    fn add(&mut self, s: &Value, at: &str) -> Result<usize> {
        let unsupported = |what: &str| Err(LlmError::UnsupportedSchema(format!("{what} at {at}")));
        let Some(obj) = s.as_object() else {
            return unsupported("a schema that is not an object");
        };
        for k in [
            "anyOf",
            "oneOf",
            "allOf",
            "$ref",
            "not",
            "patternProperties",
        ] {
            if obj.contains_key(k) {
                return unsupported(k);
            }
        }
        if let Some(c) = obj.get("const") {
            return Ok(self.choice(std::slice::from_ref(c)));
        }
        if let Some(e) = obj.get("enum") {
            let Some(opts) = e.as_array().filter(|a| !a.is_empty()) else {
                return unsupported("an empty or non-array enum");
            };
            return Ok(self.choice(opts));
        }
        let ty = match obj.get("type") {
            Some(Value::String(t)) => t.as_str(),
            Some(_) => return unsupported("a non-string type (type unions)"),
            None if obj.contains_key("properties") => "object",
            None => return unsupported("a schema without type"),
        };
        let usize_of = |k: &str| obj.get(k).and_then(Value::as_u64).map(|v| v as usize);
        match ty {
            "object" => {
                let props = obj.get("properties").and_then(Value::as_object);
                let mut steps = Vec::new();
                let mut lit = b"{".to_vec();
                if let Some(props) = props {
                    for (i, (k, v)) in props.iter().enumerate() {
                        if i > 0 {
                            lit.push(b',');
                        }
                        lit.extend_from_slice(Value::String(k.clone()).to_string().as_bytes());
                        lit.push(b':');
                        steps.push(Step::Lit(std::mem::take(&mut lit)));
                        let child = self.add(v, &format!("{at}/properties/{k}"))?;
                        steps.push(Step::Child(child));
                    }
                }
                lit.push(b'}');
                steps.push(Step::Lit(lit));
                Ok(self.push(Node::Object(steps)))
            }
            "array" => {
                let Some(items) = obj.get("items") else {
                    return unsupported("an array without items");
                };
                let item = self.add(items, &format!("{at}/items"))?;
                let min = usize_of("minItems").unwrap_or(0);
                let max = usize_of("maxItems").unwrap_or(DEFAULT_MAX_ITEMS.max(min));
                if min > max {
                    return unsupported("minItems > maxItems");
                }
                Ok(self.push(Node::Array { item, min, max }))
            }
            "string" => Ok(self.push(Node::Str {
                max_len: usize_of("maxLength").unwrap_or(DEFAULT_MAX_STRING),
            })),
            "integer" => Ok(self.push(Node::Number { integer: true })),
            "number" => Ok(self.push(Node::Number { integer: false })),
            "boolean" => Ok(self.choice(&[Value::Bool(false), Value::Bool(true)])),
            "null" => Ok(self.choice(&[Value::Null])),
            other => unsupported(&format!("type {other:?}")),
        }
    }

    fn choice(&mut self, opts: &[Value]) -> usize {
        let mut v: Vec<Vec<u8>> = opts.iter().map(|o| o.to_string().into_bytes()).collect();
        v.sort();
        v.dedup();
        self.push(Node::Choice(v))
    }

    fn start(&self, node: usize) -> Frame {
        match self.nodes.get(node) {
            Some(Node::Object(_)) => Frame::Seq {
                node,
                step: 0,
                pos: 0,
            },
            Some(Node::Array { .. }) => Frame::Arr {
                node,
                count: 0,
                phase: 0,
            },
            Some(Node::Str { .. }) => Frame::Str {
                node,
                len: 0,
                esc: 0,
                open: false,
                need: 0,
                lo: 0,
                hi: 0,
            },
            Some(Node::Number { integer }) => Frame::Num {
                integer: *integer,
                st: Num::Start,
                len: 0,
            },
            Some(Node::Choice(opts)) => Frame::Choice {
                node,
                pos: 0,
                lo: 0,
                hi: opts.len(),
            },
            None => Frame::Choice {
                node,
                pos: 0,
                lo: 0,
                hi: 0,
            },
        }
    }

    /// The initial state.
    pub(crate) fn initial(&self) -> JsonState {
        JsonState {
            stack: vec![self.start(self.root)],
        }
    }

    /// Whether `text` is a complete output this grammar accepts (compact JSON, sorted keys).
    pub fn accepts(&self, text: &str) -> bool {
        let mut st = self.initial();
        text.bytes().all(|b| st.feed(self, b)) && st.can_finish(self)
    }
}

impl JsonState {
    /// Feeds one byte; false if the grammar rejects it (the state is then unusable).
    pub(crate) fn feed(&mut self, g: &JsonGrammar, b: u8) -> bool {
        loop {
            let Some(top) = self.stack.last_mut() else {
                return false;
            };
            match top {
                Frame::Seq { node, step, pos } => {
                    let Some(Node::Object(steps)) = g.nodes.get(*node) else {
                        return false;
                    };
                    match steps.get(*step) {
                        None => {
                            self.stack.pop();
                        }
                        Some(Step::Lit(l)) => {
                            if l.get(*pos) != Some(&b) {
                                return false;
                            }
                            *pos += 1;
                            if *pos == l.len() {
                                *step += 1;
                                *pos = 0;
                            }
                            self.settle(g);
                            return true;
                        }
                        Some(Step::Child(c)) => {
                            let c = *c;
                            *step += 1;
                            *pos = 0;
                            let f = g.start(c);
                            self.stack.push(f);
                        }
                    }
                }
                Frame::Arr { node, count, phase } => {
                    let Some(&Node::Array { item, min, max }) = g.nodes.get(*node) else {
                        return false;
                    };
                    match *phase {
                        0 => {
                            if b != b'[' {
                                return false;
                            }
                            *phase = 1;
                            return true;
                        }
                        1 if b == b']' && min == 0 => {
                            self.stack.pop();
                            self.settle(g);
                            return true;
                        }
                        1 | 3 => {
                            if *count >= max {
                                return false;
                            }
                            *count += 1;
                            *phase = 2;
                            let f = g.start(item);
                            self.stack.push(f);
                        }
                        _ => {
                            if b == b',' && *count < max {
                                *phase = 3;
                                return true;
                            }
                            if b == b']' && *count >= min {
                                self.stack.pop();
                                self.settle(g);
                                return true;
                            }
                            return false;
                        }
                    }
                }
                Frame::Str {
                    node,
                    len,
                    esc,
                    open,
                    need,
                    lo,
                    hi,
                } => {
                    let Some(&Node::Str { max_len }) = g.nodes.get(*node) else {
                        return false;
                    };
                    if !*open {
                        if b != b'"' {
                            return false;
                        }
                        *open = true;
                        return true;
                    }
                    if *need > 0 {
                        if b < *lo || b > *hi {
                            return false;
                        }
                        *need -= 1;
                        (*lo, *hi) = (0x80, 0xBF);
                        return true;
                    }
                    match *esc {
                        0 => {
                            if b == b'"' {
                                self.stack.pop();
                                self.settle(g);
                                return true;
                            }
                            if b < 0x20 || *len >= max_len {
                                return false;
                            }
                            // Only well-formed UTF-8 (serde_json rejects the rest).
                            let (n, l, h) = match b {
                                0x00..=0x7F => (0, 0, 0),
                                0xC2..=0xDF => (1, 0x80, 0xBF),
                                0xE0 => (2, 0xA0, 0xBF),
                                0xED => (2, 0x80, 0x9F),
                                0xE1..=0xEF => (2, 0x80, 0xBF),
                                0xF0 => (3, 0x90, 0xBF),
                                0xF1..=0xF3 => (3, 0x80, 0xBF),
                                0xF4 => (3, 0x80, 0x8F),
                                _ => return false,
                            };
                            (*need, *lo, *hi) = (n, l, h);
                            if b == b'\\' {
                                *esc = 1;
                            } else {
                                *len += 1;
                            }
                            return true;
                        }
                        1 => {
                            if b == b'u' {
                                *esc = 2;
                            } else if b"\"\\/bfnrt".contains(&b) {
                                *esc = 0;
                                *len += 1;
                            } else {
                                return false;
                            }
                            return true;
                        }
                        _ => {
                            // No surrogate escapes (\uD800-\uDFFF cannot stand alone).
                            if !b.is_ascii_hexdigit()
                                || (*esc == 2 && b.eq_ignore_ascii_case(&b'd'))
                            {
                                return false;
                            }
                            *esc += 1;
                            if *esc == 6 {
                                *esc = 0;
                                *len += 1;
                            }
                            return true;
                        }
                    }
                }
                Frame::Num { integer, st, len } => {
                    let digit = b.is_ascii_digit();
                    let next = match (*st, b) {
                        (Num::Start, b'-') => Some(Num::Minus),
                        (Num::Start | Num::Minus, b'0') => Some(Num::Zero),
                        (Num::Start | Num::Minus, _) if digit => Some(Num::Int),
                        (Num::Int, _) if digit => Some(Num::Int),
                        (Num::Int | Num::Zero, b'.') if !*integer => Some(Num::Dot),
                        (Num::Int | Num::Zero | Num::Frac, b'e' | b'E') if !*integer => {
                            Some(Num::Exp)
                        }
                        (Num::Dot | Num::Frac, _) if digit => Some(Num::Frac),
                        (Num::Exp, b'+' | b'-') => Some(Num::ExpSign),
                        (Num::Exp | Num::ExpSign | Num::ExpDigits, _) if digit => {
                            Some(Num::ExpDigits)
                        }
                        _ => None,
                    };
                    match next {
                        Some(n) if *len < MAX_NUMBER_LEN => {
                            *st = n;
                            *len += 1;
                            return true;
                        }
                        _ if st.is_final() => {
                            self.stack.pop();
                            self.settle(g);
                        }
                        _ => return false,
                    }
                }
                Frame::Choice { node, pos, lo, hi } => {
                    let Some(Node::Choice(opts)) = g.nodes.get(*node) else {
                        return false;
                    };
                    let range = &opts[*lo..*hi];
                    let first = range.iter().position(|o| o.get(*pos) == Some(&b));
                    match first {
                        Some(f) => {
                            let n = range[f..]
                                .iter()
                                .take_while(|o| o.get(*pos) == Some(&b))
                                .count();
                            *lo += f;
                            *hi = *lo + n;
                            *pos += 1;
                            self.settle(g);
                            return true;
                        }
                        None if range.first().is_some_and(|o| o.len() == *pos) => {
                            self.stack.pop();
                            self.settle(g);
                        }
                        None => return false,
                    }
                }
            }
        }
    }

    /// Pops frames that are finished and cannot take more bytes.
    fn settle(&mut self, g: &JsonGrammar) {
        while let Some(top) = self.stack.last() {
            let done = match *top {
                Frame::Seq { node, step, .. } => {
                    matches!(g.nodes.get(node), Some(Node::Object(s)) if step >= s.len())
                }
                Frame::Choice { node, pos, lo, hi } => {
                    hi == lo + 1
                        && matches!(g.nodes.get(node), Some(Node::Choice(o)) if o[lo].len() == pos)
                }
                _ => false,
            };
            if !done {
                return;
            }
            self.stack.pop();
        }
    }

    /// Whether the output so far is a complete value (generation may stop here).
    pub(crate) fn can_finish(&self, g: &JsonGrammar) -> bool {
        match self.stack.as_slice() {
            [] => true,
            [Frame::Num { st, .. }] => st.is_final(),
            [Frame::Choice { node, pos, lo, hi }] => {
                lo < hi
                    && matches!(g.nodes.get(*node), Some(Node::Choice(o)) if o[*lo].len() == *pos)
            }
            _ => false,
        }
    }

    /// Whether no further byte can be accepted (the value is closed).
    pub(crate) fn is_closed(&self) -> bool {
        self.stack.is_empty()
    }

    /// Feeds all bytes of a token; false if any is rejected or bytes follow a closed value.
    pub(crate) fn feed_all(&mut self, g: &JsonGrammar, bytes: &[u8]) -> bool {
        !bytes.is_empty() && bytes.iter().all(|&b| self.feed(g, b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tool_schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "exact": {"type": "boolean"},
                "limit": {"type": "integer"},
                "none": {"type": "null"},
                "query": {"type": "string", "maxLength": 40},
                "score": {"type": "number"},
                "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
                "tool": {"enum": ["search", "lookup_code"]}
            }
        })
    }

    #[test]
    fn accepts_and_rejects() {
        let g = JsonGrammar::compile(&tool_schema()).unwrap();
        let good = r#"{"exact":true,"limit":-12,"none":null,"query":"a \"b\" \u00e9","score":1.5e-3,"tags":["x","y"],"tool":"lookup_code"}"#;
        assert!(g.accepts(good));
        let bad = [
            r#"{"exact":true}"#,
            r#"{"exact":1,"limit":-12,"none":null,"query":"a","score":1,"tags":[],"tool":"search"}"#,
            r#"{"exact":true,"limit":1.5,"none":null,"query":"a","score":1,"tags":[],"tool":"search"}"#,
            r#"{"exact":true,"limit":1,"none":null,"query":"a","score":1,"tags":["a","b","c","d"],"tool":"search"}"#,
            r#"{"exact":true,"limit":1,"none":null,"query":"a","score":1,"tags":[],"tool":"searc"}"#,
            r#"{"exact":true,"limit":01,"none":null,"query":"a","score":1,"tags":[],"tool":"search"}"#,
            r#"{ "exact":true,"limit":1,"none":null,"query":"a","score":1,"tags":[],"tool":"search"}"#,
            r#"{"exact":true,"limit":1,"none":null,"query":"a","score":1,"tags":[],"tool":"search"}x"#,
        ];
        for b in bad {
            assert!(!g.accepts(b), "{b}");
        }
        let ok: Value = serde_json::from_str(good).unwrap();
        assert_eq!(ok["tool"], "lookup_code");
    }

    #[test]
    fn top_level_scalars_and_prefix_enums() {
        let cases = [
            (json!({"type": "integer"}), "42", true),
            (json!({"type": "integer"}), "4", true),
            (json!({"type": "integer"}), "-", false),
            (json!({"type": "number"}), "0.5", true),
            (json!({"type": "number"}), "0.", false),
            (json!({"enum": [1, 12]}), "1", true),
            (json!({"enum": [1, 12]}), "12", true),
            (json!({"enum": [1, 12]}), "13", false),
            (json!({"const": "x"}), "\"x\"", true),
            (
                json!({"type": "array", "items": {"type": "integer"}, "minItems": 1}),
                "[]",
                false,
            ),
            (
                json!({"type": "array", "items": {"type": "integer"}, "minItems": 1}),
                "[1,2]",
                true,
            ),
        ];
        for (schema, text, want) in cases {
            let g = JsonGrammar::compile(&schema).unwrap();
            assert_eq!(g.accepts(text), want, "{schema} {text}");
        }
    }

    #[test]
    fn strings_are_well_formed_utf8() {
        let g = JsonGrammar::compile(&json!({"type": "string"})).unwrap();
        let feed = |bytes: &[u8]| {
            let mut st = g.initial();
            bytes.iter().all(|&b| st.feed(&g, b)) && st.can_finish(&g)
        };
        let cases: Vec<(&[u8], bool)> = vec![
            (b"\"caf\xC3\xA9\"", true),
            (b"\"\xF0\x9F\x98\x80\"", true),
            (b"\"\xC3\"", false),
            (b"\"\xFF\"", false),
            (b"\"\xED\xA0\x80\"", false),
            (b"\"\\u00e9\"", true),
            (b"\"\\ud800\"", false),
            (b"\"\\x\"", false),
        ];
        for (input, want) in cases {
            assert_eq!(feed(input), want, "{}", String::from_utf8_lossy(input));
            if want {
                assert!(serde_json::from_slice::<Value>(input).is_ok());
            }
        }
    }

    #[test]
    fn unsupported_schemas_are_typed_errors() {
        for s in [
            json!({"anyOf": []}),
            json!({"type": ["string", "null"]}),
            json!({"type": "array"}),
            json!(3),
        ] {
            assert!(
                matches!(
                    JsonGrammar::compile(&s),
                    Err(LlmError::UnsupportedSchema(_))
                ),
                "{s}"
            );
        }
    }

    #[test]
    fn closed_state_rejects_more() {
        let g = JsonGrammar::compile(
            &json!({"type": "object", "properties": {"a": {"type": "boolean"}}}),
        )
        .unwrap();
        let mut st = g.initial();
        assert!(st.feed_all(&g, br#"{"a":false}"#));
        assert!(st.is_closed());
        assert!(!st.clone().feed(&g, b' '));
    }
}
