//! The schema document as a small tree. A schema is a few kilobytes, and
//! compiling it follows references back and forth, so unlike the
//! documents it validates it is read whole.

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{QName, ResolveResult};
use quick_xml::reader::NsReader;

use crate::lines::Lines;

pub const XS: &str = "http://www.w3.org/2001/XMLSchema";

/// A name with its namespace (`None`: no namespace).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Name {
    pub ns: Option<String>,
    pub local: String,
}

impl Name {
    /// How messages show the name: `xs:int` for the XML Schema namespace,
    /// the local name otherwise.
    pub fn display(&self) -> String {
        match self.ns.as_deref() {
            Some(XS) => format!("xs:{}", self.local),
            _ => self.local.clone(),
        }
    }
}

#[derive(Debug)]
pub struct Node {
    /// The local name; `None` for an element outside the XML Schema
    /// namespace (inside `xs:appinfo`, say), which compiling skips.
    pub xs: Option<String>,
    pub line: usize,
    pub attrs: Vec<(String, String)>,
    /// The QName-valued attributes (`type`, `ref`, `base`, `itemType`,
    /// `memberTypes`, `substitutionGroup`), resolved against the
    /// namespaces in scope where they were written.
    pub qnames: Vec<(String, Vec<Name>)>,
    pub children: Vec<usize>,
}

impl Node {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn qname(&self, name: &str) -> Option<&Name> {
        self.qnames
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.first())
    }

    pub fn qnames(&self, name: &str) -> &[Name] {
        self.qnames
            .iter()
            .find(|(k, _)| k == name)
            .map_or(&[], |(_, v)| v.as_slice())
    }

    pub fn is(&self, local: &str) -> bool {
        self.xs.as_deref() == Some(local)
    }
}

/// The nodes in document order; the first is the root element.
pub fn read(text: &str) -> Result<Vec<Node>, String> {
    let mut reader = NsReader::from_str(text);
    let mut lines = Lines::new(text);
    let mut nodes: Vec<Node> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    loop {
        let start = reader.buffer_position() as usize;
        let event = reader.read_event().map_err(|e| {
            let (line, column) = lines.line_column(reader.error_position() as usize);
            format!("line {line}, column {column}: not well-formed XML: {e}")
        })?;
        let (e, empty) = match event {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(_) => {
                open.pop();
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let line = lines.line(start);
        let node = node(&reader, &e, line)?;
        let id = nodes.len();
        if let Some(&parent) = open.last() {
            nodes[parent].children.push(id);
        } else if id > 0 {
            return Err(format!(
                "line {line}: the schema has more than one root element"
            ));
        }
        nodes.push(node);
        if !empty {
            open.push(id);
        }
    }
    if !open.is_empty() {
        return Err(
            "not well-formed XML: the schema ends before its root element is closed".into(),
        );
    }
    if nodes.is_empty() {
        return Err("it has no root element".into());
    }
    Ok(nodes)
}

const QNAME_ATTRS: [&str; 6] = [
    "type",
    "ref",
    "base",
    "itemType",
    "memberTypes",
    "substitutionGroup",
];

fn node(reader: &NsReader<&[u8]>, e: &BytesStart, line: usize) -> Result<Node, String> {
    let resolver = reader.resolver();
    let (ns, local) = resolver.resolve_element(e.name());
    let xs = matches!(ns, ResolveResult::Bound(n) if n.into_inner() == XS)
        .then(|| local.into_inner().to_string());
    let mut attrs = Vec::new();
    let mut qnames = Vec::new();
    for attr in e.attributes() {
        let attr = attr.map_err(|err| format!("line {line}: not well-formed XML: {err}"))?;
        let key = attr.key.into_inner();
        if key == "xmlns" || key.starts_with("xmlns:") || key.contains(':') {
            continue;
        }
        let value = attr
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|err| format!("line {line}: not well-formed XML: {err}"))?
            .into_owned();
        if xs.is_some() && QNAME_ATTRS.contains(&key) {
            let mut names = Vec::new();
            for token in value.split_whitespace() {
                let (ns, local) = resolver.resolve(QName(token), true);
                let ns = match ns {
                    ResolveResult::Bound(n) => Some(n.into_inner().to_string()),
                    ResolveResult::Unbound => None,
                    ResolveResult::Unknown(prefix) => {
                        return Err(format!(
                            "line {line}: the prefix '{prefix}' of {key}=\"{token}\" is not declared"
                        ));
                    }
                };
                names.push(Name {
                    ns,
                    local: local.into_inner().to_string(),
                });
            }
            qnames.push((key.to_string(), names));
        }
        attrs.push((key.to_string(), value));
    }
    Ok(Node {
        xs,
        line,
        attrs,
        qnames,
        children: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_tree_with_resolved_names() {
        let nodes = read(
            "<s:schema xmlns:s='http://www.w3.org/2001/XMLSchema' xmlns:t='urn:t'>\n\
             <s:element name='a' type='t:A'/>\n<s:element ref='s:b'><x/></s:element>\n</s:schema>",
        )
        .unwrap();
        assert_eq!(nodes.len(), 4);
        assert!(nodes[0].is("schema"));
        assert_eq!(nodes[0].children, [1, 2]);
        assert_eq!(nodes[1].line, 2);
        assert_eq!(nodes[1].attr("name"), Some("a"));
        assert_eq!(nodes[1].qname("type").unwrap().display(), "A");
        assert_eq!(nodes[1].qname("type").unwrap().ns.as_deref(), Some("urn:t"));
        assert_eq!(nodes[2].qname("ref").unwrap().display(), "xs:b");
        assert_eq!(nodes[3].xs, None);
    }

    #[test]
    fn errors_have_lines() {
        assert!(read("<a>\n<b></a>").unwrap_err().starts_with("line 2"));
        assert!(
            read("<a type='p:x'/>").is_ok(),
            "outside xs, QNames are not resolved"
        );
        let e = read("<xs:element xmlns:xs='http://www.w3.org/2001/XMLSchema' type='p:x'/>")
            .unwrap_err();
        assert!(e.contains("prefix 'p'"), "{e}");
        assert!(read("").unwrap_err().contains("no root"));
    }
}
