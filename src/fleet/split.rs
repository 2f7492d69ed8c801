//! Cutting a JSON array of records, or a Graph page's `value` array, into
//! its elements without parsing them, so they can be parsed in parallel.
//!
//! The scanner tracks only nesting depth and whether it is inside a string
//! (with backslash escapes), byte by byte, carrying that state across the
//! blocks the file is read in. Everything that is not inside an element —
//! brackets, commas, the page's other members — is copied into a small
//! *skeleton* in which each element is replaced by `0`; parsing the
//! skeleton with serde_json at the end checks the document's structure
//! (`[0,0]` is valid, `[0 0]` is not), while each element is checked by
//! its own parse. Together they accept exactly the documents the streaming
//! visitor accepts.
//!
//! In a page, the records array is the value of the first `value` member
//! of the top-level object (as the streaming loader reads it); other
//! members' values stay in the skeleton.

/// Scanner state, carried from block to block.
#[derive(Default)]
pub(crate) struct Splitter {
    depth: u32,
    in_string: bool,
    escaped: bool,
    /// Depth of the records' elements once the records array is open.
    element_depth: Option<u32>,
    /// The records array was closed (a second `value` is not records).
    done: bool,
    /// Inside an element since this offset of the current buffer.
    element_start: Option<usize>,
    /// The last string seen at depth 1 (a page's member name), if short.
    last_key: Vec<u8>,
    key_start: Option<usize>,
    /// The document outside the elements, each element as `0`.
    pub(crate) skeleton: Vec<u8>,
}

impl Splitter {
    /// Scans `buf[from..]`, pushing the ranges of complete elements; returns
    /// the offset where an unfinished element starts (the caller keeps
    /// `buf[start..]` for the next block), or `buf.len()`.
    pub(crate) fn scan(&mut self, buf: &[u8], from: usize, out: &mut Vec<(usize, usize)>) -> usize {
        let mut i = from;
        while i < buf.len() {
            let b = buf[i];
            let in_element = self.element_start.is_some();
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                    if let Some(k) = self.key_start.take() {
                        self.last_key.clear();
                        self.last_key.extend_from_slice(buf.get(k..i).unwrap_or(&[]));
                    }
                }
                if !in_element {
                    self.skeleton.push(b);
                }
                i += 1;
                continue;
            }
            let at_element_level = self.element_depth == Some(self.depth);
            match b {
                b'"' => {
                    self.in_string = true;
                    if at_element_level && !in_element {
                        self.element_start = Some(i);
                    }
                    if self.depth == 1 && !in_element && self.element_depth.is_none() {
                        self.key_start = Some(i + 1);
                    }
                }
                b'[' | b'{' => {
                    if at_element_level && !in_element {
                        self.element_start = Some(i);
                    }
                    let opens_records = b == b'['
                        && !self.done
                        && self.element_depth.is_none()
                        && (self.depth == 0 || (self.depth == 1 && self.last_key == b"value"));
                    self.depth += 1;
                    if opens_records {
                        self.element_depth = Some(self.depth);
                        self.skeleton.push(b);
                        i += 1;
                        continue;
                    }
                }
                b']' | b'}' => {
                    if at_element_level {
                        self.finish(i, out);
                        self.element_depth = None;
                        self.done = true;
                    }
                    self.depth = self.depth.saturating_sub(1);
                }
                b',' if at_element_level => self.finish(i, out),
                b' ' | b'\t' | b'\n' | b'\r' => {}
                _ if at_element_level && !in_element => self.element_start = Some(i),
                _ => {}
            }
            if self.element_start.is_none() {
                self.skeleton.push(b);
            }
            i += 1;
        }
        // Keep an unfinished element, or an unfinished member name (only
        // one of the two can be open).
        self.element_start.or(self.key_start).unwrap_or(buf.len())
    }

    /// Ends the element open before offset `end`, if any.
    fn finish(&mut self, end: usize, out: &mut Vec<(usize, usize)>) {
        if let Some(start) = self.element_start.take() {
            out.push((start, end));
            self.skeleton.push(b'0');
        }
    }

    /// Rebases an unfinished element after the caller dropped `consumed`
    /// bytes from the front of its buffer.
    pub(crate) fn rebase(&mut self, consumed: usize) {
        if let Some(s) = self.element_start.as_mut() {
            *s -= consumed.min(*s);
        }
        if let Some(k) = self.key_start.as_mut() {
            *k -= consumed.min(*k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str, block: usize) -> (Vec<String>, String) {
        let mut s = Splitter::default();
        let mut buf: Vec<u8> = Vec::new();
        let mut elements = Vec::new();
        for chunk in text.as_bytes().chunks(block.max(1)) {
            let from = buf.len();
            buf.extend_from_slice(chunk);
            let mut ranges = Vec::new();
            let keep = s.scan(&buf, from, &mut ranges);
            for (a, b) in ranges {
                elements.push(String::from_utf8_lossy(&buf[a..b]).trim().to_string());
            }
            buf.drain(..keep);
            s.rebase(keep);
        }
        (elements, String::from_utf8_lossy(&s.skeleton).into_owned())
    }

    #[test]
    fn arrays_and_pages_split_at_every_block_size() {
        let array = r#" [ {"id": "a,]}"}, {"id": "b\"}", "x": [1, {"y": 2}]} ] "#;
        let page = r#"{"@odata.context": "c[", "value": [{"id": "a"},{"id":"b"}], "next": [{"z": 1}]}"#;
        for block in [1, 2, 3, 7, 64, 1000] {
            let (e, sk) = split(array, block);
            assert_eq!(e, vec![r#"{"id": "a,]}"}"#, r#"{"id": "b\"}", "x": [1, {"y": 2}]}"#], "{block}");
            assert_eq!(sk.split_whitespace().collect::<String>(), "[0,0]");
            let (e, sk) = split(page, block);
            assert_eq!(e, vec![r#"{"id": "a"}"#, r#"{"id":"b"}"#], "{block}");
            assert!(sk.contains(r#""value": [0,0]"#) && sk.contains(r#"[{"z": 1}]"#), "{sk}");
        }
        assert_eq!(split("[]", 1).0, Vec::<String>::new());
        assert_eq!(split("[{} {}]", 3).1, "[0]");
    }
}
