//! A thin layer over quick-xml: owned start/end/text events with entity references resolved,
//! element depth tracking, and errors that say where in the file parsing failed.

use std::io::BufRead;

use quick_xml::Reader;
use quick_xml::events::Event;

/// One XML event.
pub(crate) enum Ev {
    /// An element opened (empty elements yield `Start` then `End`).
    Start {
        name: String,
        attrs: Vec<(String, String)>,
    },
    /// An element closed.
    End,
    /// Character data, entity references resolved.
    Text(String),
}

pub(crate) struct XmlEvents<R: BufRead> {
    reader: Reader<R>,
    buf: Vec<u8>,
    stack: Vec<String>,
    pending_end: bool,
    seen_root: bool,
}

impl<R: BufRead> XmlEvents<R> {
    pub(crate) fn new(r: R) -> Self {
        let mut reader = Reader::from_reader(r);
        reader.config_mut().trim_text(false);
        reader.config_mut().check_end_names = true;
        Self {
            reader,
            buf: Vec::with_capacity(8 * 1024),
            stack: Vec::new(),
            pending_end: false,
            seen_root: false,
        }
    }

    /// Names of the open elements, outermost first.
    pub(crate) fn stack(&self) -> &[String] {
        &self.stack
    }

    /// The next event; `Ok(None)` at a clean end of the document. Errors describe the problem
    /// and the byte position, never the document's text.
    pub(crate) fn next(&mut self) -> Result<Option<Ev>, String> {
        if self.pending_end {
            self.pending_end = false;
            self.stack.pop();
            return Ok(Some(Ev::End));
        }
        loop {
            self.buf.clear();
            let pos = self.reader.buffer_position();
            let ev = self.reader.read_event_into(&mut self.buf).map_err(|e| match e {
                quick_xml::Error::Io(io) => format!(
                    "cannot read past byte {pos} of the XML (truncated or corrupt compressed data?): {io}"
                ),
                other if other.to_string().contains("end of input") => {
                    format!("truncated XML: the file ends inside markup (near byte {pos})")
                }
                other => format!("malformed XML near byte {pos}: {other}"),
            })?;
            match ev {
                Event::Start(e) => {
                    let (name, attrs) = start_parts(&e)?;
                    self.stack.push(name.clone());
                    self.seen_root = true;
                    return Ok(Some(Ev::Start { name, attrs }));
                }
                Event::Empty(e) => {
                    let (name, attrs) = start_parts(&e)?;
                    self.stack.push(name.clone());
                    self.seen_root = true;
                    self.pending_end = true;
                    return Ok(Some(Ev::Start { name, attrs }));
                }
                Event::End(_) => {
                    self.stack.pop();
                    return Ok(Some(Ev::End));
                }
                Event::Text(t) => {
                    let s = t
                        .decode()
                        .map_err(|e| format!("invalid text encoding near byte {pos}: {e}"))?;
                    return Ok(Some(Ev::Text(s.into_owned())));
                }
                Event::CData(t) => {
                    let s = t
                        .decode()
                        .map_err(|e| format!("invalid text encoding near byte {pos}: {e}"))?;
                    return Ok(Some(Ev::Text(s.into_owned())));
                }
                Event::GeneralRef(r) => {
                    if let Ok(Some(c)) = r.resolve_char_ref() {
                        return Ok(Some(Ev::Text(c.to_string())));
                    }
                    let name = r
                        .decode()
                        .map_err(|e| format!("invalid entity near byte {pos}: {e}"))?;
                    let text = quick_xml::escape::resolve_predefined_entity(&name)
                        .map(str::to_owned)
                        .unwrap_or_else(|| format!("&{name};"));
                    return Ok(Some(Ev::Text(text)));
                }
                Event::Eof => {
                    if let Some(open) = self.stack.last() {
                        return Err(format!(
                            "truncated XML: the file ends inside <{open}> (near byte {pos})"
                        ));
                    }
                    if !self.seen_root {
                        return Err("no XML element found (empty or not XML)".into());
                    }
                    return Ok(None);
                }
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
            }
        }
    }

    /// Reads the text content of the element just opened, up to its end, skipping markup but
    /// keeping the text of inline children. Elements named in `skip` are left out entirely.
    pub(crate) fn text_until_end(&mut self, skip: &[&str], out: &mut String) -> Result<(), String> {
        let mut depth = 1usize;
        let mut skipping: Option<usize> = None;
        while depth > 0 {
            match self.next()? {
                Some(Ev::Start { name, .. }) => {
                    depth += 1;
                    if skipping.is_none() && skip.contains(&name.as_str()) {
                        skipping = Some(depth);
                    }
                }
                Some(Ev::End) => {
                    if skipping == Some(depth) {
                        skipping = None;
                    }
                    depth -= 1;
                }
                Some(Ev::Text(t)) => {
                    if skipping.is_none() {
                        out.push_str(&t);
                    }
                }
                None => return Err("truncated XML inside an element".into()),
            }
        }
        Ok(())
    }

    /// Skips the rest of the element just opened.
    pub(crate) fn skip_element(&mut self) -> Result<(), String> {
        let mut sink = String::new();
        self.text_until_end(&[], &mut sink)
    }
}

fn start_parts(
    e: &quick_xml::events::BytesStart<'_>,
) -> Result<(String, Vec<(String, String)>), String> {
    let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|err| format!("malformed attribute in <{name}>: {err}"))?;
        let key = String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned();
        let value = a
            .unescape_value()
            .map_err(|err| format!("malformed attribute value in <{name}>: {err}"))?
            .into_owned();
        attrs.push((key, value));
    }
    Ok((name, attrs))
}

/// The value of attribute `key`.
pub(crate) fn attr<'a>(attrs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}
