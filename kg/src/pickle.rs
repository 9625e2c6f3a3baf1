//! A small reader for Python pickles of plain data (str, bytes, int, float, bool, None,
//! list, tuple, dict), protocols 0 to 5, with shared references resolved.
//!
//! `serde-pickle` 1.2 refuses `drug_ner_dictionary.pkl.bz2` ("recursive structure found")
//! because the file shares memoised strings between dicts; this reader keeps memo entries
//! as shared values, so shared (but not recursive) structures load.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// A decoded pickle value.
#[derive(Debug, Clone)]
pub enum Value {
    /// None.
    None,
    /// bool.
    Bool(bool),
    /// int (within i64).
    Int(i64),
    /// float.
    Float(f64),
    /// str (or a protocol-0 `S` string, decoded as Latin-1 when not UTF-8).
    Str(Rc<str>),
    /// bytes.
    Bytes(Rc<[u8]>),
    /// list.
    List(Rc<RefCell<Vec<Value>>>),
    /// tuple.
    Tuple(Rc<Vec<Value>>),
    /// dict, in insertion order.
    Dict(Rc<RefCell<Vec<(Value, Value)>>>),
}

impl Value {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The dict entries, if this is a dict.
    pub fn dict(&self) -> Option<std::cell::Ref<'_, Vec<(Value, Value)>>> {
        match self {
            Value::Dict(d) => Some(d.borrow()),
            _ => None,
        }
    }

    /// The items of a list or tuple.
    pub fn items(&self) -> Option<Vec<Value>> {
        match self {
            Value::List(l) => Some(l.borrow().clone()),
            Value::Tuple(t) => Some(t.as_ref().clone()),
            _ => None,
        }
    }

    /// Looks a string key up in a dict.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.dict()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v.clone())
    }
}

/// Why a pickle could not be read: message and byte offset.
#[derive(Debug, Clone, PartialEq)]
pub struct PickleError {
    /// Byte offset in the (decompressed) stream.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for PickleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "byte {}: {}", self.offset, self.message)
    }
}

enum Slot {
    Mark,
    V(Value),
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn err(&self, m: impl Into<String>) -> PickleError {
        PickleError {
            offset: self.pos,
            message: m.into(),
        }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.b.len())
            .ok_or_else(|| self.err("unexpected end of data (truncated pickle)"))?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }
    fn le(&mut self, n: usize) -> Result<u64, PickleError> {
        let s = self.take(n)?;
        Ok(s.iter()
            .rev()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }
    fn line(&mut self) -> Result<&'a [u8], PickleError> {
        let rest = &self.b[self.pos..];
        let n = rest
            .iter()
            .position(|b| *b == b'\n')
            .ok_or_else(|| self.err("unterminated text argument"))?;
        let s = &rest[..n];
        self.pos += n + 1;
        Ok(s)
    }
    fn len(&mut self, n: usize) -> Result<usize, PickleError> {
        let v = self.le(n)?;
        usize::try_from(v).map_err(|_| self.err("length too large"))
    }
}

fn text(bytes: &[u8]) -> Rc<str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Rc::from(s),
        Err(_) => Rc::from(
            bytes
                .iter()
                .map(|&b| char::from(b))
                .collect::<String>()
                .as_str(),
        ),
    }
}

/// Decodes a protocol-0 `S` argument: a quoted Python literal with backslash escapes.
fn py_string_literal(raw: &[u8]) -> Option<Vec<u8>> {
    let q = *raw.first()?;
    if !(q == b'\'' || q == b'"') || raw.len() < 2 || *raw.last()? != q {
        return None;
    }
    let inner = &raw[1..raw.len() - 1];
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        let c = inner[i];
        if c == b'\\' && i + 1 < inner.len() {
            let n = inner[i + 1];
            i += 2;
            match n {
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'r' => out.push(b'\r'),
                b'\\' => out.push(b'\\'),
                b'\'' => out.push(b'\''),
                b'"' => out.push(b'"'),
                b'x' if i + 2 <= inner.len() => {
                    let h = std::str::from_utf8(&inner[i..i + 2]).ok()?;
                    out.push(u8::from_str_radix(h, 16).ok()?);
                    i += 2;
                }
                other => {
                    out.push(b'\\');
                    out.push(other);
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    Some(out)
}

/// Deepest nesting of lists, tuples and dicts accepted (the drug NER dictionary has 3).
const MAX_DEPTH: usize = 1000;

/// Decodes one pickle from `bytes`. A structure that contains itself (possible through the
/// memo) or nests deeper than 1000 levels is refused.
pub fn from_slice(bytes: &[u8]) -> Result<Value, PickleError> {
    let mut state = Teardown {
        stack: Vec::new(),
        memo: HashMap::new(),
        armed: true,
    };
    let v = decode(bytes, &mut state.stack, &mut state.memo)?;
    let left = state.stack.iter().filter_map(|s| match s {
        Slot::V(v) => Some(v),
        Slot::Mark => None,
    });
    if let Some(problem) = shape_problem(std::iter::once(&v).chain(state.memo.values()).chain(left))
    {
        state.stack.push(Slot::V(v));
        return Err(PickleError {
            offset: bytes.len(),
            message: problem.into(),
        });
    }
    state.armed = false;
    Ok(v)
}

/// What a failed decode leaves behind, taken apart without recursion when dropped: a
/// recursive structure would otherwise leak (reference cycle) and a deep one overflow the
/// stack when dropped.
struct Teardown {
    stack: Vec<Slot>,
    memo: HashMap<u64, Value>,
    armed: bool,
}

impl Drop for Teardown {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut work: Vec<Value> = self.memo.drain().map(|(_, v)| v).collect();
        work.extend(self.stack.drain(..).filter_map(|s| match s {
            Slot::V(v) => Some(v),
            Slot::Mark => None,
        }));
        while let Some(v) = work.pop() {
            match v {
                Value::List(l) => {
                    if let Ok(mut items) = l.try_borrow_mut() {
                        work.append(&mut items);
                    }
                }
                Value::Dict(d) => {
                    if let Ok(mut pairs) = d.try_borrow_mut() {
                        for (k, v) in pairs.drain(..) {
                            work.push(k);
                            work.push(v);
                        }
                    }
                }
                Value::Tuple(t) => {
                    if let Ok(items) = Rc::try_unwrap(t) {
                        work.extend(items);
                    }
                }
                _ => {}
            }
        }
    }
}

/// Why decoded values cannot be used: a container inside itself, or nesting deeper than
/// [`MAX_DEPTH`]. Iterative, each container visited once over all `roots`.
fn shape_problem<'a>(roots: impl IntoIterator<Item = &'a Value>) -> Option<&'static str> {
    fn id(v: &Value) -> Option<usize> {
        match v {
            Value::List(l) => Some(Rc::as_ptr(l).cast::<()>() as usize),
            Value::Tuple(t) => Some(Rc::as_ptr(t).cast::<()>() as usize),
            Value::Dict(d) => Some(Rc::as_ptr(d).cast::<()>() as usize),
            _ => None,
        }
    }
    fn children(v: &Value) -> Vec<Value> {
        match v {
            Value::List(l) => l.borrow().clone(),
            Value::Tuple(t) => t.as_ref().clone(),
            Value::Dict(d) => d
                .borrow()
                .iter()
                .flat_map(|(k, v)| [k.clone(), v.clone()])
                .collect(),
            _ => Vec::new(),
        }
    }
    let mut done = std::collections::HashSet::new();
    let mut on_path = std::collections::HashSet::new();
    let mut path: Vec<(usize, Vec<Value>)> = Vec::new();
    for root in roots {
        if let Some(i) = id(root).filter(|i| !done.contains(i)) {
            on_path.insert(i);
            path.push((i, children(root)));
        }
        while let Some((i, kids)) = path.last_mut() {
            match kids.pop() {
                Some(k) => {
                    let Some(j) = id(&k) else { continue };
                    if on_path.contains(&j) {
                        return Some("a recursive structure (a list or dict inside itself)");
                    }
                    if done.contains(&j) {
                        continue;
                    }
                    if path.len() >= MAX_DEPTH {
                        return Some("lists, tuples or dicts nested deeper than 1000 levels");
                    }
                    on_path.insert(j);
                    path.push((j, children(&k)));
                }
                None => {
                    let i = *i;
                    on_path.remove(&i);
                    done.insert(i);
                    path.pop();
                }
            }
        }
    }
    None
}

fn decode(
    bytes: &[u8],
    stack: &mut Vec<Slot>,
    memo: &mut HashMap<u64, Value>,
) -> Result<Value, PickleError> {
    let mut r = Reader { b: bytes, pos: 0 };
    fn pop(r: &Reader<'_>, stack: &mut Vec<Slot>) -> Result<Value, PickleError> {
        match stack.pop() {
            Some(Slot::V(v)) => Ok(v),
            Some(Slot::Mark) => Err(r.err("unexpected mark")),
            None => Err(r.err("stack underflow")),
        }
    }
    fn pop_mark(r: &Reader<'_>, stack: &mut Vec<Slot>) -> Result<Vec<Value>, PickleError> {
        let at = stack
            .iter()
            .rposition(|s| matches!(s, Slot::Mark))
            .ok_or_else(|| r.err("no mark on the stack"))?;
        let items = stack.split_off(at + 1);
        stack.pop();
        Ok(items
            .into_iter()
            .filter_map(|s| if let Slot::V(v) = s { Some(v) } else { None })
            .collect())
    }
    fn top<'s>(r: &Reader<'_>, stack: &'s [Slot]) -> Result<&'s Value, PickleError> {
        match stack.last() {
            Some(Slot::V(v)) => Ok(v),
            _ => Err(r.err("expected a value on the stack")),
        }
    }
    loop {
        let op = r.u8()?;
        match op {
            0x80 => {
                let _ = r.u8()?;
            }
            0x95 => {
                let _ = r.le(8)?;
            }
            b'.' => return pop(&r, stack),
            b'(' => stack.push(Slot::Mark),
            b'N' => stack.push(Slot::V(Value::None)),
            0x88 => stack.push(Slot::V(Value::Bool(true))),
            0x89 => stack.push(Slot::V(Value::Bool(false))),
            b'K' => stack.push(Slot::V(Value::Int(i64::from(r.u8()?)))),
            b'M' => stack.push(Slot::V(Value::Int(r.le(2)? as i64))),
            b'J' => stack.push(Slot::V(Value::Int(i64::from(r.le(4)? as u32 as i32)))),
            b'I' | b'L' => {
                let l = r.line()?;
                let s = std::str::from_utf8(l)
                    .map_err(|_| r.err("bad int"))?
                    .trim_end_matches('L');
                let v = match s {
                    "00" => Value::Bool(false),
                    "01" => Value::Bool(true),
                    _ => Value::Int(s.parse().map_err(|_| r.err(format!("bad int {s:?}")))?),
                };
                stack.push(Slot::V(v));
            }
            b'G' => {
                let s = r.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(s);
                stack.push(Slot::V(Value::Float(f64::from_be_bytes(a))));
            }
            b'F' => {
                let l = r.line()?;
                let s = std::str::from_utf8(l).map_err(|_| r.err("bad float"))?;
                stack.push(Slot::V(Value::Float(
                    s.parse().map_err(|_| r.err(format!("bad float {s:?}")))?,
                )));
            }
            0x8c => {
                let n = r.len(1)?;
                stack.push(Slot::V(Value::Str(text(r.take(n)?))));
            }
            b'X' => {
                let n = r.len(4)?;
                stack.push(Slot::V(Value::Str(text(r.take(n)?))));
            }
            0x8d => {
                let n = r.len(8)?;
                stack.push(Slot::V(Value::Str(text(r.take(n)?))));
            }
            b'V' => {
                let l = r.line()?;
                stack.push(Slot::V(Value::Str(text(l))));
            }
            b'S' => {
                let l = r.line()?;
                let s = py_string_literal(l).ok_or_else(|| r.err("bad string literal"))?;
                stack.push(Slot::V(Value::Str(text(&s))));
            }
            b'U' | b'C' => {
                let n = r.len(1)?;
                let s = r.take(n)?;
                stack.push(Slot::V(if op == b'U' {
                    Value::Str(text(s))
                } else {
                    Value::Bytes(Rc::from(s))
                }));
            }
            b'T' | b'B' => {
                let n = r.len(4)?;
                let s = r.take(n)?;
                stack.push(Slot::V(if op == b'T' {
                    Value::Str(text(s))
                } else {
                    Value::Bytes(Rc::from(s))
                }));
            }
            b']' => stack.push(Slot::V(Value::List(Rc::new(RefCell::new(Vec::new()))))),
            b'}' => stack.push(Slot::V(Value::Dict(Rc::new(RefCell::new(Vec::new()))))),
            b')' => stack.push(Slot::V(Value::Tuple(Rc::new(Vec::new())))),
            b'l' => {
                let items = pop_mark(&r, stack)?;
                stack.push(Slot::V(Value::List(Rc::new(RefCell::new(items)))));
            }
            b't' => {
                let items = pop_mark(&r, stack)?;
                stack.push(Slot::V(Value::Tuple(Rc::new(items))));
            }
            0x85..=0x87 => {
                let n = usize::from(op - 0x84);
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(pop(&r, stack)?);
                }
                items.reverse();
                stack.push(Slot::V(Value::Tuple(Rc::new(items))));
            }
            b'd' => {
                let items = pop_mark(&r, stack)?;
                let pairs = pairs(&r, items)?;
                stack.push(Slot::V(Value::Dict(Rc::new(RefCell::new(pairs)))));
            }
            b'a' => {
                let v = pop(&r, stack)?;
                match top(&r, stack)? {
                    Value::List(l) => l.borrow_mut().push(v),
                    _ => return Err(r.err("APPEND to a non-list")),
                }
            }
            b'e' => {
                let items = pop_mark(&r, stack)?;
                match top(&r, stack)? {
                    Value::List(l) => l.borrow_mut().extend(items),
                    _ => return Err(r.err("APPENDS to a non-list")),
                }
            }
            b's' => {
                let v = pop(&r, stack)?;
                let k = pop(&r, stack)?;
                match top(&r, stack)? {
                    Value::Dict(d) => d.borrow_mut().push((k, v)),
                    _ => return Err(r.err("SETITEM on a non-dict")),
                }
            }
            b'u' => {
                let items = pop_mark(&r, stack)?;
                let p = pairs(&r, items)?;
                match top(&r, stack)? {
                    Value::Dict(d) => d.borrow_mut().extend(p),
                    _ => return Err(r.err("SETITEMS on a non-dict")),
                }
            }
            0x94 => {
                let v = top(&r, stack)?.clone();
                let id = memo.len() as u64;
                memo.insert(id, v);
            }
            b'p' | b'q' | b'r' => {
                let id = match op {
                    b'p' => {
                        let l = r.line()?;
                        std::str::from_utf8(l)
                            .ok()
                            .and_then(|s| s.parse().ok())
                            .ok_or_else(|| r.err("bad PUT id"))?
                    }
                    b'q' => r.le(1)?,
                    _ => r.le(4)?,
                };
                let v = top(&r, stack)?.clone();
                memo.insert(id, v);
            }
            b'g' | b'h' | b'j' => {
                let id = match op {
                    b'g' => {
                        let l = r.line()?;
                        std::str::from_utf8(l)
                            .ok()
                            .and_then(|s| s.parse().ok())
                            .ok_or_else(|| r.err("bad GET id"))?
                    }
                    b'h' => r.le(1)?,
                    _ => r.le(4)?,
                };
                let v = memo
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| r.err(format!("memo id {id} not defined")))?;
                stack.push(Slot::V(v));
            }
            other => {
                return Err(PickleError {
                    offset: r.pos - 1,
                    message: format!(
                        "unsupported pickle opcode 0x{other:02x} (only plain data is read)"
                    ),
                });
            }
        }
    }
}

fn pairs(r: &Reader<'_>, items: Vec<Value>) -> Result<Vec<(Value, Value)>, PickleError> {
    if !items.len().is_multiple_of(2) {
        return Err(r.err("odd number of items for a dict"));
    }
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol0_dict() {
        // pickle.dumps({'SKELID': 'TILUDRONATE', 'X': 'Y'}, protocol=0) in Python 2 style.
        let data = b"(dp0\nS'SKELID'\np1\nS'TILUDRONATE'\np2\nsS'X'\np3\ng2\ns.";
        let v = from_slice(data).unwrap();
        assert_eq!(v.get("SKELID").unwrap().as_str(), Some("TILUDRONATE"));
        assert_eq!(v.get("X").unwrap().as_str(), Some("TILUDRONATE"));
    }

    /// Inputs from the `pickle` fuzz target: a list appended to itself through the memo leaked
    /// (a reference cycle) and was returned as data; deep nesting was accepted without bound.
    #[test]
    fn recursive_and_deep_structures_are_refused() {
        // EMPTY_LIST, BINPUT 0, BINGET 0, APPEND, STOP: l = []; l.append(l)
        let e = from_slice(b"]q\x00h\x00a.").unwrap_err();
        assert!(e.message.contains("recursive"), "{e}");
        // The same cycle left on the stack under the returned value.
        let e = from_slice(b"]q\x00h\x00aN.").unwrap_err();
        assert!(e.message.contains("recursive"), "{e}");
        // d = {}; d['k'] = [d]
        let e = from_slice(b"}q\x00X\x01\x00\x00\x00k(h\x00ls.").unwrap_err();
        assert!(e.message.contains("recursive"), "{e}");
        let mut deep = vec![b']'; 1500];
        deep.extend(vec![b'a'; 1499]);
        deep.push(b'.');
        let e = from_slice(&deep).unwrap_err();
        assert!(e.message.contains("deeper than 1000"), "{e}");
        // Shared, not recursive: a tuple holding one list twice still loads.
        let v = from_slice(b"]q\x00(h\x00h\x00t.").unwrap();
        assert_eq!(v.items().map(|i| i.len()), Some(2));
    }

    #[test]
    fn truncated_and_unsupported() {
        let e = from_slice(b"(dp0\nS'SKELID'\np1\nS'TIL").unwrap_err();
        assert!(
            e.message.contains("unterminated") || e.message.contains("truncated"),
            "{e}"
        );
        let e = from_slice(b"\x80\x04c").unwrap_err();
        assert!(e.message.contains("unsupported pickle opcode 0x63"), "{e}");
    }
}
