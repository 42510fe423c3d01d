//! Just enough of JSON's grammar to find things in a document's text:
//! where a value ends and which members a container has. It names the
//! field a request body fails on (see [`crate::admin::parse_body`]). It
//! never validates (serde_json does that); on malformed text it still
//! ends, and never panics.

/// One member of an object or an array.
#[derive(Debug, PartialEq, Eq)]
pub struct Member {
    /// Its key, in an object (as written: escapes are left alone).
    pub key: Option<String>,
    /// Its position in the container.
    pub index: usize,
    /// Where its value starts.
    pub value: usize,
    /// The bytes to cut to remove it, with one neighbouring comma.
    pub cut: (usize, usize),
}

fn skip_space(text: &[u8], mut i: usize) -> usize {
    while text.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

/// Where the value at or after `i` starts, if there is one.
pub fn value_at(text: &[u8], i: usize) -> Option<usize> {
    let i = skip_space(text, i);
    (i < text.len()).then_some(i)
}

/// Past the closing quote of the string that starts at `i`.
fn string_end(text: &[u8], mut i: usize) -> usize {
    i += 1;
    while i < text.len() && text[i] != b'"' {
        i += if text[i] == b'\\' { 2 } else { 1 };
    }
    (i + 1).min(text.len())
}

/// Past the end of the value that starts at `i`.
fn value_end(text: &[u8], mut i: usize) -> usize {
    match text.get(i) {
        Some(b'"') => string_end(text, i),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            while i < text.len() {
                match text[i] {
                    b'"' => {
                        i = string_end(text, i);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return i + 1;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            i
        }
        _ => {
            while text
                .get(i)
                .is_some_and(|b| !matches!(b, b',' | b'}' | b']') && !b.is_ascii_whitespace())
            {
                i += 1;
            }
            i
        }
    }
}

/// The members of the object or array that starts at `at` (none for a scalar).
pub fn members(text: &[u8], at: usize) -> Vec<Member> {
    let object = match text.get(at) {
        Some(b'{') => true,
        Some(b'[') => false,
        _ => return Vec::new(),
    };
    let mut found: Vec<Member> = Vec::new();
    let mut previous_end = None;
    let mut i = skip_space(text, at + 1);
    while i < text.len() && !matches!(text[i], b'}' | b']') {
        let start = i;
        let key = object.then(|| {
            let end = string_end(text, i);
            let key = text.get(i + 1..end.saturating_sub(1)).unwrap_or_default();
            i = skip_space(text, end);
            i = skip_space(text, i + 1);
            String::from_utf8_lossy(key).into_owned()
        });
        let value = i;
        let end = value_end(text, i).max(i + 1);
        i = skip_space(text, end);
        let cut = if text.get(i) == Some(&b',') {
            i = skip_space(text, i + 1);
            (start, i)
        } else {
            // The last member takes the comma before it.
            (previous_end.unwrap_or(start), end.min(text.len()))
        };
        previous_end = Some(end.min(text.len()));
        let index = found.len();
        found.push(Member {
            key,
            index,
            value,
            cut,
        });
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn without(text: &str, m: &Member) -> String {
        format!("{}{}", &text[..m.cut.0], &text[m.cut.1..])
    }

    #[test]
    fn members_and_their_removal_leave_valid_json() {
        let text = r#"{ "a": 1, "b" : {"c": [1, "x,]"]}, "d": null }"#;
        let found = members(text.as_bytes(), 0);
        let keys: Vec<_> = found.iter().map(|m| m.key.clone().unwrap()).collect();
        assert_eq!(keys, ["a", "b", "d"]);
        for m in &found {
            let rest = without(text, m);
            let v: serde_json::Value = serde_json::from_str(&rest).expect(&rest);
            assert!(v.get(m.key.as_deref().unwrap()).is_none());
        }
        let inner = members(text.as_bytes(), found[1].value);
        assert_eq!(inner[0].key.as_deref(), Some("c"));
        let list = members(text.as_bytes(), inner[0].value);
        assert_eq!(list.len(), 2);
        assert_eq!(list[1].index, 1);
        assert_eq!(&text[list[1].value..list[1].value + 5], r#""x,]""#);
    }

    proptest! {
        /// Any text at all: it ends, and cuts stay inside the text.
        #[test]
        fn fuzz_json_text_never_panics(text in "[ {}\\[\\],:\"a1\\\\]{0,40}") {
            let bytes = text.as_bytes();
            for at in 0..=bytes.len() {
                for m in members(bytes, at) {
                    prop_assert!(m.cut.0 <= m.cut.1 && m.cut.1 <= bytes.len());
                }
            }
        }
    }
}
