//! Matching an element's children, one at a time, against its content
//! model: sequences, choices, `xs:all`, wildcards, each with its
//! `minOccurs` and `maxOccurs`.
//!
//! The state is a stack of frames, one per model group (or element) that
//! is in progress, outermost first. XSD requires content models to be
//! deterministic (the Unique Particle Attribution rule), so each child
//! has at most one particle it can match next and no backtracking is
//! needed; counters keep large `maxOccurs` cheap.
//!
//! When a child does not fit, a second, lenient attempt looks further
//! ahead in the sequences in progress: `<sku/><price/>` against
//! `sku, qty, price` reports `qty` as missing and goes on from `price`,
//! instead of reporting `price` and everything after it as unexpected.

use crate::schema::{ElemId, Particle, Schema, Term, Wildcard};

/// The declaration a child matched.
#[derive(Debug, Clone, Copy)]
pub enum Matched<'s> {
    Element(ElemId),
    Any(&'s Wildcard),
}

#[derive(Debug)]
pub struct Step<'s> {
    pub matched: Matched<'s>,
    /// Whether the schema lets this child's name repeat here, so that its
    /// path shows its position even when it is the first.
    pub repeats: bool,
    /// Required elements the lenient attempt passed over to get here.
    pub skipped: Vec<String>,
}

#[derive(Debug, PartialEq)]
pub enum Refusal {
    /// Nothing here takes the child; `expected` lists what would have been
    /// taken (empty: no more children are allowed).
    Unexpected { expected: Vec<String> },
    /// The child's particle has already matched its `maxOccurs`.
    TooMany { max: u32 },
}

/// What is missing when the parent element ends.
#[derive(Debug, PartialEq)]
pub enum Missing {
    /// One of these elements is required.
    OneOf(Vec<String>),
    /// This element occurs fewer times than its `minOccurs`.
    TooFew { name: String, min: u32, found: u32 },
}

#[derive(Debug, Clone)]
pub struct Frame<'s> {
    p: &'s Particle,
    /// Occurrences started, the current one included.
    count: u32,
    /// The child particle in progress in the current occurrence.
    pos: Option<usize>,
    /// For `xs:all`: which children the current occurrence has seen.
    seen: Vec<bool>,
}

pub struct Matcher<'s> {
    schema: &'s Schema,
    stack: Vec<Frame<'s>>,
}

fn below_max(p: &Particle, count: u32) -> bool {
    p.max.is_none_or(|max| count < max)
}

/// Spare frame stacks: a document has many elements with complex
/// content, and reusing their stacks saves an allocation for each.
#[derive(Default)]
pub struct Pool<'s>(Vec<Vec<Frame<'s>>>);

impl<'s> Matcher<'s> {
    pub fn new(schema: &'s Schema, root: &'s Particle, pool: &mut Pool<'s>) -> Matcher<'s> {
        let mut stack = pool.0.pop().unwrap_or_default();
        stack.push(Frame {
            p: root,
            count: 0,
            pos: None,
            seen: Vec::new(),
        });
        Matcher { schema, stack }
    }

    /// Gives the matcher's stack back to the pool.
    pub fn release(mut self, pool: &mut Pool<'s>) {
        self.stack.clear();
        pool.0.push(self.stack);
    }

    fn leaf_matches(&self, p: &Particle, ns: Option<&str>, local: &str) -> Option<Matched<'s>> {
        match &p.term {
            Term::Element(id) => {
                let name = &self.schema.element(*id).name;
                (name.local == local && name.ns.as_deref() == ns).then_some(Matched::Element(*id))
            }
            _ => None,
        }
    }

    /// Whether `p` can start with an element of this name.
    fn first_contains(&self, p: &Particle, ns: Option<&str>, local: &str) -> bool {
        match &p.term {
            Term::Element(_) => self.leaf_matches(p, ns, local).is_some(),
            Term::Any(w) => w.allows(ns),
            Term::Sequence(items) => {
                for item in items {
                    if self.first_contains(item, ns, local) {
                        return true;
                    }
                    if !item.nullable {
                        return false;
                    }
                }
                false
            }
            Term::Choice(items) | Term::All(items) => {
                items.iter().any(|i| self.first_contains(i, ns, local))
            }
        }
    }

    /// The names `p` can start with, as messages show them.
    fn first_names(&self, p: &Particle, out: &mut Vec<String>) {
        match &p.term {
            Term::Element(id) => out.push(self.schema.element(*id).name.local.clone()),
            Term::Any(_) => out.push("any element".to_string()),
            Term::Sequence(items) => {
                for item in items {
                    self.first_names(item, out);
                    if !item.nullable {
                        break;
                    }
                }
            }
            Term::Choice(items) | Term::All(items) => {
                items.iter().for_each(|i| self.first_names(i, out))
            }
        }
    }

    /// Starts an occurrence of a group frame with the child that takes
    /// the name, and returns that child.
    fn start(&self, frame: &mut Frame<'s>, ns: Option<&str>, local: &str) -> Option<&'s Particle> {
        let p: &'s Particle = frame.p;
        match &p.term {
            Term::Element(_) | Term::Any(_) => None,
            Term::Sequence(items) | Term::Choice(items) | Term::All(items) => {
                let i = items
                    .iter()
                    .position(|c| self.first_contains(c, ns, local))?;
                frame.pos = Some(i);
                if matches!(p.term, Term::All(_)) {
                    frame.seen = vec![false; items.len()];
                    frame.seen[i] = true;
                }
                Some(&items[i])
            }
        }
    }

    /// Pushes the frames from `p` down to the element that takes the name.
    fn descend(&mut self, p: &'s Particle, ns: Option<&str>, local: &str) -> Matched<'s> {
        let mut frame = Frame {
            p,
            count: 1,
            pos: None,
            seen: Vec::new(),
        };
        let child = self.start(&mut frame, ns, local);
        self.stack.push(frame);
        match child {
            Some(child) => self.descend(child, ns, local),
            None => self.leaf(p, ns, local),
        }
    }

    fn leaf(&self, p: &'s Particle, ns: Option<&str>, local: &str) -> Matched<'s> {
        match &p.term {
            Term::Any(w) => Matched::Any(w),
            _ => self
                .leaf_matches(p, ns, local)
                .unwrap_or(Matched::Any(&ANY)),
        }
    }

    fn done(&self, matched: Matched<'s>, skipped: Vec<String>) -> Step<'s> {
        Step {
            matched,
            repeats: self.stack.iter().any(|f| f.p.repeats()),
            skipped,
        }
    }

    /// Takes the next child element, or says why it cannot be taken (and
    /// then leaves the state as it was).
    pub fn step(&mut self, ns: Option<&str>, local: &str) -> Result<Step<'s>, Refusal> {
        match self.try_step(ns, local, false) {
            Ok(step) => Ok(step),
            Err(refusal) => self.try_step(ns, local, true).map_err(|_| refusal),
        }
    }

    fn try_step(
        &mut self,
        ns: Option<&str>,
        local: &str,
        lenient: bool,
    ) -> Result<Step<'s>, Refusal> {
        let mut skipped = Vec::new();
        let mut too_many = None;
        for depth in (1..=self.stack.len()).rev() {
            let frame = &self.stack[depth - 1];
            let p = frame.p;
            let leavable = match &p.term {
                Term::Element(_) | Term::Any(_) => {
                    let fits = match &p.term {
                        Term::Any(w) => w.allows(ns),
                        _ => self.leaf_matches(p, ns, local).is_some(),
                    };
                    if fits && below_max(p, frame.count) {
                        self.stack.truncate(depth);
                        self.stack[depth - 1].count += 1;
                        let matched = self.leaf(p, ns, local);
                        return Ok(self.done(matched, skipped));
                    }
                    // A limit of one is better told by what may come
                    // instead.
                    if fits && p.max != Some(1) {
                        too_many = p.max;
                    }
                    frame.count >= p.min
                }
                Term::Sequence(items) => {
                    let mut complete = true;
                    // The lenient attempt may also start a sequence past its
                    // first, missing, elements.
                    let from = match frame.pos {
                        Some(pos) => Some(pos + 1),
                        None if lenient && frame.count == 0 => Some(0),
                        None => None,
                    };
                    if let Some(from) = from {
                        for (i, item) in items.iter().enumerate().skip(from) {
                            if self.first_contains(item, ns, local) {
                                self.stack.truncate(depth);
                                let frame = &mut self.stack[depth - 1];
                                if frame.pos.is_none() {
                                    frame.count += 1;
                                }
                                frame.pos = Some(i);
                                let matched = self.descend(item, ns, local);
                                return Ok(self.done(matched, skipped));
                            }
                            if !item.nullable {
                                if !lenient {
                                    complete = false;
                                    break;
                                }
                                self.first_names(item, &mut skipped);
                            }
                        }
                    }
                    complete
                }
                Term::Choice(_) => true,
                Term::All(items) => {
                    let mut complete = true;
                    for (i, item) in items.iter().enumerate() {
                        if frame.seen.get(i).copied().unwrap_or(false) || frame.count == 0 {
                            continue;
                        }
                        if self.first_contains(item, ns, local) {
                            self.stack.truncate(depth);
                            let frame = &mut self.stack[depth - 1];
                            frame.seen[i] = true;
                            frame.pos = Some(i);
                            let matched = self.descend(item, ns, local);
                            return Ok(self.done(matched, skipped));
                        }
                        if !item.nullable {
                            complete = false;
                        }
                    }
                    complete || lenient
                }
            };
            let group = !matches!(p.term, Term::Element(_) | Term::Any(_));
            // A complete occurrence of a group may be followed by another.
            if group && leavable && below_max(p, frame.count) && self.first_contains(p, ns, local) {
                self.stack.truncate(depth);
                let mut frame = self.stack.pop().expect("the frame at depth");
                frame.count += 1;
                let child = self
                    .start(&mut frame, ns, local)
                    .expect("first_contains said so");
                self.stack.push(frame);
                let matched = self.descend(child, ns, local);
                return Ok(self.done(matched, skipped));
            }
            let enough = frame.count >= p.min || p.nullable;
            if !(leavable && enough) {
                if !lenient {
                    break;
                }
                // What held the frame back is missing; the lenient attempt
                // passes over it.
                self.first_names(p, &mut skipped);
            }
        }
        Err(match too_many {
            Some(max) => Refusal::TooMany { max },
            None => Refusal::Unexpected {
                expected: self.expected(),
            },
        })
    }

    /// The names the next child could have, as messages show them.
    pub fn expected(&self) -> Vec<String> {
        let mut names = Vec::new();
        for frame in self.stack.iter().rev() {
            let p = frame.p;
            let (leavable, group) = match &p.term {
                Term::Element(_) | Term::Any(_) => {
                    if below_max(p, frame.count) {
                        self.first_names(p, &mut names);
                    }
                    (frame.count >= p.min, false)
                }
                Term::Sequence(items) => {
                    let mut complete = true;
                    if let Some(pos) = frame.pos {
                        for item in &items[pos + 1..] {
                            self.first_names(item, &mut names);
                            if !item.nullable {
                                complete = false;
                                break;
                            }
                        }
                    }
                    (complete, true)
                }
                Term::Choice(_) => (true, true),
                Term::All(items) => {
                    let mut complete = true;
                    for (i, item) in items.iter().enumerate() {
                        if frame.count > 0 && !frame.seen[i] {
                            self.first_names(item, &mut names);
                            complete &= item.nullable;
                        }
                    }
                    (complete, true)
                }
            };
            if group && leavable && below_max(p, frame.count) {
                self.first_names(p, &mut names);
            }
            if !(leavable && (frame.count >= p.min || p.nullable)) {
                break;
            }
        }
        let mut unique = Vec::new();
        for name in names {
            if !unique.contains(&name) {
                unique.push(name);
            }
        }
        unique
    }

    /// Checks that the content may end here.
    pub fn finish(&self) -> Result<(), Missing> {
        for frame in self.stack.iter().rev() {
            let p = frame.p;
            let enough = frame.count >= p.min || p.nullable;
            let mut names = Vec::new();
            let complete = match &p.term {
                Term::Element(_) | Term::Any(_) => {
                    if frame.count < p.min {
                        self.first_names(p, &mut names);
                        let name = names.pop().unwrap_or_default();
                        return Err(if frame.count == 0 {
                            Missing::OneOf(vec![name])
                        } else {
                            Missing::TooFew {
                                name,
                                min: p.min,
                                found: frame.count,
                            }
                        });
                    }
                    true
                }
                Term::Sequence(items) => match frame.pos {
                    Some(pos) => match items[pos + 1..].iter().find(|i| !i.nullable) {
                        Some(required) => {
                            self.first_names(required, &mut names);
                            false
                        }
                        None => true,
                    },
                    None => true,
                },
                Term::Choice(_) => true,
                Term::All(items) => {
                    for (i, item) in items.iter().enumerate() {
                        if frame.count > 0 && !frame.seen[i] && !item.nullable {
                            self.first_names(item, &mut names);
                        }
                    }
                    names.is_empty()
                }
            };
            if !complete {
                return Err(Missing::OneOf(names));
            }
            if !enough {
                self.first_names(p, &mut names);
                return Err(Missing::OneOf(names));
            }
        }
        Ok(())
    }
}

/// What an element with no declaration matches: a lax wildcard.
static ANY: Wildcard = Wildcard {
    namespaces: crate::schema::Namespaces::Any,
    process: crate::schema::Process::Lax,
};

#[cfg(test)]
mod tests;
