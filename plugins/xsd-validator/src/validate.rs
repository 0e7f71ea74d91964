//! Validates a document against a compiled schema in one streaming pass:
//! no tree is built, and only the open elements are kept (with their
//! content model's state), so memory beyond the document's own text is
//! small whatever its size.
//!
//! Violations carry the line of the element's start tag and its path,
//! with 1-based positions (`item[2]`) wherever the schema lets the name
//! repeat or it did repeat. Validation goes on after a violation, so a
//! sender gets every problem at once; a document that is not well-formed
//! stops it, as nothing after that point can be read reliably.

use std::borrow::Cow;

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

use crate::builtin::{WhiteSpace, apply_whitespace, shorten};
use crate::content::{Matched, Matcher, Missing, Pool, Refusal};
use crate::lines::Lines;
use crate::schema::{ANY_TYPE, ComplexType, Content, ElementDecl, Process, Schema, Type};
use crate::simple::SimpleType;

const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// The deepest nesting read. Each open element costs a little memory, so a
/// document of nothing but start tags could otherwise take more than the
/// plugin's memory cap; no real document comes near this.
const MAX_DEPTH: usize = 1024;

#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    pub line: usize,
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}, {}: {}", self.line, self.path, self.message)
    }
}

#[derive(Debug, PartialEq)]
pub enum Outcome {
    Valid,
    /// The first `violations` found, and how many there were in all.
    Invalid {
        violations: Vec<Violation>,
        total: usize,
    },
    /// Not well-formed XML: where and why.
    Malformed(String),
    /// The document uses something this validator cannot judge.
    Unjudgeable(String),
}

/// How an open element's content is checked.
enum Kind<'s> {
    /// Not at all: the element was refused or a wildcard skips it.
    Skip,
    Complex(&'s ComplexType, Option<Matcher<'s>>),
    Simple(&'s SimpleType),
}

struct Open<'s, 't> {
    /// The element's name as written, and its position among its
    /// same-named siblings when the path shows one.
    name: &'t str,
    position: Option<u32>,
    /// Where its start tag is; its line is counted only when a violation
    /// needs it.
    offset: usize,
    kind: Kind<'s>,
    decl: Option<&'s ElementDecl>,
    /// Child names seen so far, with their counts.
    children: Vec<(&'t str, u32)>,
    text: Option<Cow<'t, str>>,
    /// `xsi:nil="true"`: the content must be empty.
    nil: bool,
    /// Whether a violation about this element's text or children was
    /// already reported, so that one mistake gives one reason.
    content_reported: bool,
}

struct Run<'s, 't> {
    schema: &'s Schema,
    text: &'t str,
    lines: Lines<'t>,
    open: Vec<Open<'s, 't>>,
    /// Spare allocations of closed elements, for the next ones.
    spare_children: Vec<Vec<(&'t str, u32)>>,
    pool: Pool<'s>,
    violations: Vec<Violation>,
    total: usize,
    keep: usize,
}

/// Why reading stopped early.
enum Stop {
    Malformed(String),
    Unjudgeable(String),
}

pub fn validate(schema: &Schema, text: &str, keep: usize) -> Outcome {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let mut run = Run {
        schema,
        text,
        lines: Lines::new(text),
        open: Vec::new(),
        spare_children: Vec::new(),
        pool: Pool::default(),
        violations: Vec::new(),
        total: 0,
        keep,
    };
    match run.read() {
        Err(Stop::Malformed(reason)) => Outcome::Malformed(reason),
        Err(Stop::Unjudgeable(reason)) => Outcome::Unjudgeable(reason),
        Ok(()) if run.total == 0 => Outcome::Valid,
        Ok(()) => {
            // Reported in document order: an element's missing children are
            // found at its end tag, after the violations inside it.
            let mut violations = run.violations;
            violations.sort_by_key(|v| v.line);
            Outcome::Invalid {
                violations,
                total: run.total,
            }
        }
    }
}

fn malformed(lines: &mut Lines, offset: usize, what: impl std::fmt::Display) -> Stop {
    let (line, column) = lines.line_column(offset);
    Stop::Malformed(format!(
        "line {line}, column {column}: not well-formed XML: {what}"
    ))
}

fn is_blank(text: &str) -> bool {
    text.bytes()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

fn names(list: &[String]) -> String {
    let shown: Vec<String> = list.iter().map(|n| format!("<{n}>")).collect();
    match shown.len() {
        0 => String::new(),
        1 => shown[0].clone(),
        _ => format!("one of {}", shown.join(", ")),
    }
}

impl<'s, 't> Run<'s, 't> {
    fn read(&mut self) -> Result<(), Stop> {
        let text = self.text;
        let mut reader = NsReader::from_str(text);
        let mut seen_root = false;
        loop {
            let start = reader.buffer_position() as usize;
            let event = match reader.read_event() {
                Ok(event) => event,
                Err(e) => {
                    return Err(malformed(
                        &mut self.lines,
                        reader.error_position() as usize,
                        e,
                    ));
                }
            };
            match event {
                Event::Start(_) | Event::Empty(_) => {
                    let (e, empty) = match event {
                        Event::Start(e) => (e, false),
                        Event::Empty(e) => (e, true),
                        _ => unreachable!("matched above"),
                    };
                    if self.open.is_empty() {
                        if seen_root {
                            return Err(malformed(&mut self.lines, start, "a second root element"));
                        }
                        seen_root = true;
                    }
                    if self.open.len() >= MAX_DEPTH {
                        return Err(malformed(
                            &mut self.lines,
                            start,
                            format!(
                                "elements are nested more than {MAX_DEPTH} deep, which this validator does not read"
                            ),
                        ));
                    }
                    self.start(&reader, &e, start)?;
                    if empty {
                        self.end();
                    }
                }
                Event::End(_) => self.end(),
                Event::Text(e) => {
                    let content = e.xml10_content();
                    if self.open.is_empty() {
                        if !is_blank(&content) {
                            return Err(malformed(
                                &mut self.lines,
                                start,
                                "text outside the root element",
                            ));
                        }
                    } else {
                        self.text(content);
                    }
                }
                Event::CData(e) => {
                    if self.open.is_empty() {
                        return Err(malformed(
                            &mut self.lines,
                            start,
                            "CDATA outside the root element",
                        ));
                    }
                    self.text(e.xml10_content());
                }
                Event::GeneralRef(r) => {
                    let resolved = match r.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        Ok(None) => match r.xml10_content().as_ref() {
                            "lt" => "<".into(),
                            "gt" => ">".into(),
                            "amp" => "&".into(),
                            "apos" => "'".into(),
                            "quot" => "\"".into(),
                            other => {
                                return Err(malformed(
                                    &mut self.lines,
                                    start,
                                    format!("the entity &{other}; is not defined"),
                                ));
                            }
                        },
                        Err(e) => return Err(malformed(&mut self.lines, start, e)),
                    };
                    if self.open.is_empty() {
                        return Err(malformed(
                            &mut self.lines,
                            start,
                            "a reference outside the root element",
                        ));
                    }
                    self.text(Cow::Owned(resolved));
                }
                Event::Eof => break,
                _ => {}
            }
        }
        if let Some(open) = self.open.last() {
            let (name, line) = (open.name, self.lines.line(open.offset));
            return Err(malformed(
                &mut self.lines,
                text.len(),
                format!("the document ends before <{name}> (line {line}) is closed"),
            ));
        }
        if !seen_root {
            return Err(Stop::Malformed(
                "not well-formed XML: the document has no root element".into(),
            ));
        }
        Ok(())
    }

    fn report(&mut self, offset: usize, path: String, message: String) {
        self.total += 1;
        if self.violations.len() < self.keep {
            let line = self.lines.line(offset);
            self.violations.push(Violation {
                line,
                path,
                message,
            });
        }
    }

    /// The path of the open elements, and of `extra` below them.
    fn path(&self, extra: &str) -> String {
        let mut path = String::new();
        for open in &self.open {
            path.push('/');
            path.push_str(open.name);
            if let Some(n) = open.position {
                path.push_str(&format!("[{n}]"));
            }
        }
        path.push_str(extra);
        path
    }

    fn start(
        &mut self,
        reader: &NsReader<&'t [u8]>,
        e: &BytesStart<'t>,
        offset: usize,
    ) -> Result<(), Stop> {
        // The name as a slice of the text (the start tag's `<` is at
        // `offset`), so that the open elements borrow rather than copy it.
        let written = e.name().into_inner();
        let qname: &'t str = match self.text.get(offset + 1..offset + 1 + written.len()) {
            Some(slice) if slice == written => slice,
            _ => {
                return Err(malformed(
                    &mut self.lines,
                    offset,
                    format!("cannot locate the tag <{written}>"),
                ));
            }
        };
        let (ns, local) = reader.resolver().resolve_element(e.name());
        let ns: Option<&str> = match ns {
            ResolveResult::Bound(n) => Some(n.into_inner()),
            ResolveResult::Unbound => None,
            ResolveResult::Unknown(prefix) => {
                return Err(malformed(
                    &mut self.lines,
                    offset,
                    format!("the prefix '{prefix}' is not declared"),
                ));
            }
        };
        let local = local.into_inner();

        // Where the element is among its siblings.
        let position = match self.open.last_mut() {
            Some(parent) => match parent.children.iter_mut().find(|(n, _)| *n == qname) {
                Some((_, count)) => {
                    *count += 1;
                    *count
                }
                None => {
                    parent.children.push((qname, 1));
                    1
                }
            },
            None => 1,
        };

        let (decl, repeats) = self.place(ns, local, qname, position, offset);
        let mut open = Open {
            name: qname,
            position: (repeats || position > 1).then_some(position),
            offset,
            kind: Kind::Skip,
            decl: None,
            children: self.spare_children.pop().unwrap_or_default(),
            text: None,
            nil: false,
            content_reported: false,
        };
        let Some(decl) = decl else {
            self.open.push(open);
            return Ok(());
        };
        let schema = self.schema;
        let decl: &'s ElementDecl = decl;
        open.decl = Some(decl);
        let ty = &schema.types[decl.ty];
        open.kind = match ty {
            Type::Simple(simple) => Kind::Simple(simple),
            Type::Complex(complex) => match &complex.content {
                Content::Simple(simple) => Kind::Simple(simple),
                Content::Empty => Kind::Complex(complex, None),
                Content::Elements(p) => {
                    Kind::Complex(complex, Some(Matcher::new(schema, p, &mut self.pool)))
                }
            },
        };
        self.open.push(open);
        self.attributes(reader, e, ty, decl, offset)
    }

    /// Finds the declaration of a new child of the innermost open element
    /// (or of the root), reporting it when there is none; says whether its
    /// name may repeat there.
    fn place(
        &mut self,
        ns: Option<&str>,
        local: &str,
        qname: &str,
        position: u32,
        offset: usize,
    ) -> (Option<&'s ElementDecl>, bool) {
        let schema = self.schema;
        let Some(parent) = self.open.last_mut() else {
            return match schema.global(ns, local) {
                Some(id) => (Some(schema.element(id)), false),
                None => {
                    let declared: Vec<String> = schema
                        .globals
                        .iter()
                        .map(|&id| schema.element(id).name.local.clone())
                        .collect();
                    let ns = ns
                        .map(|n| format!(" in the namespace {n}"))
                        .unwrap_or_else(|| " in no namespace".into());
                    self.report(
                        offset,
                        format!("/{qname}"),
                        format!("the root element <{local}>{ns} is not declared by the schema; expected {}", names(&declared_with_ns(schema, declared))),
                    );
                    (None, false)
                }
            };
        };
        let parent_name = parent.name;
        let refusal = match &mut parent.kind {
            Kind::Skip => return (None, false),
            _ if parent.nil => Some(format!(
                "<{parent_name}> has xsi:nil=\"true\" and must be empty"
            )),
            Kind::Simple(simple) => {
                let name = simple.name.clone();
                Some(format!(
                    "<{parent_name}> has simple content ({name}) and cannot contain elements"
                ))
            }
            Kind::Complex(_, None) => Some(format!("<{parent_name}> must be empty")),
            Kind::Complex(_, Some(matcher)) => match matcher.step(ns, local) {
                Ok(step) => {
                    let skipped = step.skipped;
                    let repeats = step.repeats;
                    let decl = match step.matched {
                        Matched::Element(id) => Some(schema.element(id)),
                        Matched::Any(w) => match (w.process, schema.global(ns, local)) {
                            (Process::Skip, _) => None,
                            (_, Some(id)) => Some(schema.element(id)),
                            (Process::Lax, None) => Some(&ANY_ELEMENT),
                            (Process::Strict, None) => {
                                let at = self.path(&format!("/{qname}"));
                                self.report(offset, at, format!("<{local}> matches a strict wildcard, but the schema declares no such element"));
                                None
                            }
                        },
                    };
                    if !skipped.is_empty() {
                        let at = self.path("");
                        self.report(
                            offset,
                            at,
                            format!("missing {} before <{local}>", names(&skipped)),
                        );
                    }
                    return (decl, repeats);
                }
                Err(Refusal::TooMany { max }) => {
                    let times = if max == 1 {
                        "once".to_string()
                    } else {
                        format!("{max} times")
                    };
                    Some(format!(
                        "<{local}> appears more often than allowed: at most {times} here"
                    ))
                }
                Err(Refusal::Unexpected { expected }) if expected.is_empty() => Some(format!(
                    "unexpected element <{local}>: nothing more is allowed in <{parent_name}> here"
                )),
                Err(Refusal::Unexpected { expected }) if expected.iter().any(|e| e == local) => {
                    // The right name in the wrong namespace: say so, or the
                    // message would read "<a> is unexpected; expected <a>".
                    let place = ns.map_or_else(
                        || "in no namespace".to_string(),
                        |n| format!("in the namespace {n}"),
                    );
                    Some(format!(
                        "<{local}> is {place}, not the namespace the schema declares it in (check the xmlns declarations and elementFormDefault)"
                    ))
                }
                Err(Refusal::Unexpected { expected }) => Some(format!(
                    "unexpected element <{local}>; expected {}",
                    names(&expected)
                )),
            },
        };
        if let Some(message) = refusal {
            let parent = self.open.last_mut().expect("the parent");
            // A parent that takes no children at all is reported once.
            let once = parent.nil || !matches!(parent.kind, Kind::Complex(_, Some(_)));
            if !(once && parent.content_reported) {
                parent.content_reported |= once;
                let segment = match position {
                    1 => format!("/{qname}"),
                    n => format!("/{qname}[{n}]"),
                };
                let at = self.path(&segment);
                self.report(offset, at, message);
            }
        }
        (None, false)
    }

    #[allow(clippy::too_many_arguments)]
    fn attributes(
        &mut self,
        reader: &NsReader<&'t [u8]>,
        e: &BytesStart<'t>,
        ty: &'s Type,
        decl: &'s ElementDecl,
        offset: usize,
    ) -> Result<(), Stop> {
        let complex = match ty {
            Type::Complex(c) => Some(c),
            Type::Simple(_) => None,
        };
        let declared = complex.map_or(&[][..], |c| c.attributes.as_slice());
        // Which declared attributes were given: a bit each, or a vector
        // for the rare type with more than 64.
        let mut seen_bits = 0u64;
        let mut seen_many = if declared.len() > 64 {
            vec![false; declared.len()]
        } else {
            Vec::new()
        };
        for attr in e.attributes() {
            let attr = attr.map_err(|err| malformed(&mut self.lines, offset, err))?;
            let key = attr.key.into_inner();
            if key == "xmlns" || key.starts_with("xmlns:") {
                continue;
            }
            let (ns, local) = reader.resolver().resolve_attribute(attr.key);
            let ns = match ns {
                ResolveResult::Bound(n) => Some(n.into_inner()),
                ResolveResult::Unbound => None,
                ResolveResult::Unknown(prefix) => {
                    return Err(malformed(
                        &mut self.lines,
                        offset,
                        format!("the prefix '{prefix}' is not declared"),
                    ));
                }
            };
            let local = local.into_inner();
            let value = attr
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|err| malformed(&mut self.lines, offset, err))?;
            if ns == Some(XSI) {
                match local {
                    "nil" if matches!(value.trim(), "true" | "1") => {
                        if decl.nillable {
                            self.open.last_mut().expect("the element").nil = true;
                        } else {
                            let at = self.path("");
                            self.report(
                                offset,
                                at,
                                format!(
                                    "xsi:nil is not allowed: <{}> is not nillable",
                                    decl.name.local
                                ),
                            );
                        }
                    }
                    "type" => {
                        let line = self.lines.line(offset);
                        return Err(Stop::Unjudgeable(format!(
                            "line {line}, {}: xsi:type=\"{value}\" is not supported by this validator",
                            self.path("")
                        )));
                    }
                    _ => {}
                }
                continue;
            }
            let found = declared
                .iter()
                .position(|a| a.name.local == local && a.name.ns.as_deref() == ns);
            let Some(i) = found else {
                let wildcard = complex.and_then(|c| c.any_attribute.as_ref());
                if !wildcard.is_some_and(|w| w.allows(ns)) {
                    let at = self.path(&format!("/@{key}"));
                    let message = match complex {
                        Some(_) => format!(
                            "attribute '{key}' is not declared for <{}>",
                            decl.name.local
                        ),
                        None => format!(
                            "attribute '{key}' is not allowed: <{}> has a simple type",
                            decl.name.local
                        ),
                    };
                    self.report(offset, at, message);
                }
                continue;
            };
            if i < 64 {
                seen_bits |= 1 << i;
            } else {
                seen_many[i] = true;
            }
            let attribute = &declared[i];
            let problem = match attribute.ty.check(&value) {
                Err(message) => Some(message),
                Ok(()) => attribute.fixed.as_ref().and_then(|fixed| {
                    let rule = attribute.ty.whitespace.max(WhiteSpace::Replace);
                    (apply_whitespace(fixed, rule) != apply_whitespace(&value, rule)).then(|| {
                        format!("'{}' must be '{fixed}', the fixed value", shorten(&value))
                    })
                }),
            };
            if let Some(message) = problem {
                let at = self.path(&format!("/@{key}"));
                self.report(offset, at, message);
            }
        }
        for (i, attribute) in declared.iter().enumerate() {
            let seen = if i < 64 {
                seen_bits & (1 << i) != 0
            } else {
                seen_many[i]
            };
            if attribute.required && !seen {
                let at = self.path("");
                self.report(
                    offset,
                    at,
                    format!("missing required attribute '{}'", attribute.name.local),
                );
            }
        }
        Ok(())
    }

    fn text(&mut self, content: Cow<'t, str>) {
        let Some(open) = self.open.last_mut() else {
            return;
        };
        let message = match &open.kind {
            Kind::Skip => None,
            _ if open.nil => (!is_blank(&content))
                .then(|| format!("<{}> has xsi:nil=\"true\" and must be empty", open.name)),
            Kind::Simple(_) => {
                match &mut open.text {
                    None => open.text = Some(content),
                    Some(text) => text.to_mut().push_str(&content),
                }
                None
            }
            Kind::Complex(complex, _) if complex.mixed => None,
            Kind::Complex(_, matcher) => (!is_blank(&content)).then(|| {
                let kind = if matcher.is_some() {
                    "element-only content"
                } else {
                    "empty content"
                };
                format!(
                    "text '{}' is not allowed: <{}> has {kind}",
                    shorten(content.trim()),
                    open.name
                )
            }),
        };
        if let Some(message) = message
            && !open.content_reported
        {
            open.content_reported = true;
            let (offset, at) = (open.offset, self.path(""));
            self.report(offset, at, message);
        }
    }

    fn end(&mut self) {
        let Some(open) = self.open.last() else {
            return;
        };
        let offset = open.offset;
        let message = match &open.kind {
            Kind::Skip => None,
            _ if open.nil => None,
            Kind::Simple(simple) => {
                let raw = open.text.as_deref().unwrap_or("");
                let default = open
                    .decl
                    .and_then(|d| d.fixed.as_deref().or(d.default.as_deref()));
                let value = match default {
                    Some(default) if raw.is_empty() => default,
                    _ => raw,
                };
                match simple.check(value) {
                    Err(message) => Some(message),
                    Ok(()) => {
                        open.decl
                            .and_then(|d| d.fixed.as_deref())
                            .and_then(|fixed| {
                                let rule = simple.whitespace.max(WhiteSpace::Replace);
                                (apply_whitespace(fixed, rule) != apply_whitespace(value, rule))
                                    .then(|| {
                                        format!(
                                            "'{}' must be '{fixed}', the fixed value",
                                            shorten(value)
                                        )
                                    })
                            })
                    }
                }
            }
            Kind::Complex(_, Some(matcher)) => match matcher.finish() {
                Ok(()) => None,
                Err(Missing::OneOf(list)) => Some(format!("missing {}", names(&list))),
                Err(Missing::TooFew { name, min, found }) => {
                    Some(format!("only {found} <{name}>, at least {min} expected"))
                }
            },
            Kind::Complex(_, None) => None,
        };
        if let Some(message) = message {
            let at = self.path("");
            self.report(offset, at, message);
        }
        if let Some(mut open) = self.open.pop() {
            open.children.clear();
            self.spare_children.push(open.children);
            if let Kind::Complex(_, Some(matcher)) = open.kind {
                matcher.release(&mut self.pool);
            }
        }
    }
}

/// A lax wildcard's element with no declaration: anything goes inside.
static ANY_ELEMENT: ElementDecl = ElementDecl {
    name: crate::schema::Name {
        ns: None,
        local: String::new(),
    },
    ty: ANY_TYPE,
    nillable: true,
    fixed: None,
    default: None,
};

fn declared_with_ns(schema: &Schema, declared: Vec<String>) -> Vec<String> {
    match &schema.target {
        Some(ns) => declared
            .into_iter()
            .map(|d| format!("{d} (in {ns})"))
            .collect(),
        None => declared,
    }
}

#[cfg(test)]
mod tests;
